using VacCnn.Contracts;
using VacCnn.Explainers.Shared;

namespace VacCnn.Explainers.Cam;

/// <summary>LayerCAM (Jiang et al., IEEE TIP 2021): map = ReLU(Σ_k ReLU(g_k) ⊙ A_k), a per-position weight from the positive gradient; works at shallow layers too.</summary>
public sealed class LayerCam : IExplainer
{
    /// <inheritdoc />
    public string Id => "layercam";

    /// <inheritdoc />
    public string DisplayName => "LayerCAM";

    /// <inheritdoc />
    public string Description =>
        "Keeps only the positive gradient at each position of each feature map as that position's weight, which also gives sharp maps at earlier, finer layers; costs one forward and one backward pass.";

    /// <inheritdoc />
    public IReadOnlyList<SettingInfo> Settings { get; } = [];

    /// <inheritdoc />
    public SaliencyMap Explain(IClassifier model, FloatTensor image, ExplanationRequest request, CancellationToken cancellationToken)
    {
        var (height, width, _, explainable, layer) = ExplainerSupport.PrepareCam(this, model, image, request);
        cancellationToken.ThrowIfCancellationRequested();

        var (r, cls, probability) = ExplainerSupport.BackwardForClass(model, explainable, image, request.ClassIndex, layer.Name, withInputGradient: false);
        var (k, lh, lw) = CamMath.LayerShape(r.Activations, layer.Name);
        var map = CamMath.LayerCamMap(r.Activations.Item(0), r.LayerGradient.Item(0), k, lh * lw);
        return CamMath.Finish(map, lh, lw, height, width, cls, probability, layer.Name);
    }
}
