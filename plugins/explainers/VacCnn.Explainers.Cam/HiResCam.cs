using VacCnn.Contracts;
using VacCnn.Explainers.Shared;

namespace VacCnn.Explainers.Cam;

/// <summary>HiResCAM (Draelos &amp; Carin 2020): map = ReLU(Σ_k g_k ⊙ A_k), the element-wise gradient × activation summed over channels; provably faithful to the score where Grad-CAM's averaging is not.</summary>
public sealed class HiResCam : IExplainer
{
    /// <inheritdoc />
    public string Id => "hirescam";

    /// <inheritdoc />
    public string DisplayName => "HiResCAM";

    /// <inheritdoc />
    public string Description =>
        "Multiplies each feature map by its own gradient position by position instead of averaging the gradient first, so the map shows exactly which cells raise the class score; costs one forward and one backward pass.";

    /// <inheritdoc />
    public IReadOnlyList<SettingInfo> Settings { get; } = [];

    /// <inheritdoc />
    public SaliencyMap Explain(IClassifier model, FloatTensor image, ExplanationRequest request, CancellationToken cancellationToken)
    {
        var (height, width, _, explainable, layer) = ExplainerSupport.PrepareCam(this, model, image, request);
        cancellationToken.ThrowIfCancellationRequested();

        var (r, cls, probability) = ExplainerSupport.BackwardForClass(model, explainable, image, request.ClassIndex, layer.Name, withInputGradient: false);
        var (k, lh, lw) = CamMath.LayerShape(r.Activations, layer.Name);
        var map = CamMath.HiResCamMap(r.Activations.Item(0), r.LayerGradient.Item(0), k, lh * lw);
        return CamMath.Finish(map, lh, lw, height, width, cls, probability, layer.Name);
    }
}
