using VacCnn.Contracts;
using VacCnn.Explainers.Shared;

namespace VacCnn.Explainers.Cam;

/// <summary>XGrad-CAM (Fu et al., BMVC 2020): map = ReLU(Σ_k w_k A_k) with w_k = Σ_hw (A_k·g_k) / Σ_hw A_k, the activation-weighted mean gradient.</summary>
public sealed class XGradCam : IExplainer
{
    /// <inheritdoc />
    public string Id => "xgradcam";

    /// <inheritdoc />
    public string DisplayName => "XGrad-CAM";

    /// <inheritdoc />
    public string Description =>
        "Like Grad-CAM, but weights each feature map by its gradient averaged where the map is active (weighted by the activation), which follows the class score more closely; costs one forward and one backward pass.";

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
        var weights = CamMath.XGradCamWeights(a, r.LayerGradient.Item(0), k, lh * lw);
        var map = CamMath.WeightedSumRelu(a, weights, lh * lw);
        return CamMath.Finish(map, lh, lw, height, width, cls, probability, layer.Name);
    }
}
