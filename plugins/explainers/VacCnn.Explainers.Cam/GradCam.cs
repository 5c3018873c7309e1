using VacCnn.Contracts;
using VacCnn.Explainers.Shared;

namespace VacCnn.Explainers.Cam;

/// <summary>Grad-CAM (Selvaraju et al., ICCV 2017): map = ReLU(Σ_k w_k A_k) with w_k = mean of dScore/dA_k.</summary>
public sealed class GradCam : IExplainer
{
    /// <inheritdoc />
    public string Id => "gradcam";

    /// <inheritdoc />
    public string DisplayName => "Grad-CAM";

    /// <inheritdoc />
    public string Description =>
        "Highlights the regions whose features at the chosen layer push the class score up (feature maps weighted by their average gradient); costs one forward and one backward pass.";

    /// <inheritdoc />
    public IReadOnlyList<SettingInfo> Settings { get; } = [];

    /// <inheritdoc />
    public SaliencyMap Explain(IClassifier model, FloatTensor image, ExplanationRequest request, CancellationToken cancellationToken)
    {
        var (height, width, _, explainable, layer) = ExplainerSupport.PrepareCam(this, model, image, request);
        cancellationToken.ThrowIfCancellationRequested();

        var (r, cls, probability) = ExplainerSupport.BackwardForClass(model, explainable, image, request.ClassIndex, layer.Name, withInputGradient: false);
        var (k, lh, lw) = CamMath.LayerShape(r.Activations, layer.Name);
        var weights = CamMath.GradCamWeights(r.LayerGradient.Item(0), k, lh * lw);
        var map = CamMath.WeightedSumRelu(r.Activations.Item(0), weights, lh * lw);
        return CamMath.Finish(map, lh, lw, height, width, cls, probability, layer.Name);
    }
}

/// <summary>Grad-CAM++ (Chattopadhay et al., WACV 2018), exp(score) closed form as in the authors' code.</summary>
public sealed class GradCamPlusPlus : IExplainer
{
    /// <inheritdoc />
    public string Id => "gradcampp";

    /// <inheritdoc />
    public string DisplayName => "Grad-CAM++";

    /// <inheritdoc />
    public string Description =>
        "Like Grad-CAM, but weights every position of each feature map by higher-order gradient terms, which covers several copies of an object better; costs one forward and one backward pass.";

    /// <inheritdoc />
    public IReadOnlyList<SettingInfo> Settings { get; } = [];

    /// <inheritdoc />
    public SaliencyMap Explain(IClassifier model, FloatTensor image, ExplanationRequest request, CancellationToken cancellationToken)
    {
        var (height, width, _, explainable, layer) = ExplainerSupport.PrepareCam(this, model, image, request);
        cancellationToken.ThrowIfCancellationRequested();

        var (r, cls, probability) = ExplainerSupport.BackwardForClass(model, explainable, image, request.ClassIndex, layer.Name, withInputGradient: false);
        var (k, lh, lw) = CamMath.LayerShape(r.Activations, layer.Name);
        var a = r.Activations.Item(0);
        var weights = CamMath.GradCamPlusPlusWeights(a, r.LayerGradient.Item(0), k, lh * lw);
        var map = CamMath.WeightedSumRelu(a, weights, lh * lw);
        return CamMath.Finish(map, lh, lw, height, width, cls, probability, layer.Name);
    }
}
