using VacCnn.Contracts;
using VacCnn.Explainers.Shared;

namespace VacCnn.Explainers.Cam;

/// <summary>
/// The CAMs that differ only in how one backward pass's activations and gradients at the layer become a map: the
/// checks, the targeted backward pass, upsampling and normalisation are here, once.
/// </summary>
public abstract class GradientCamExplainer : IExplainer
{
    /// <inheritdoc />
    public abstract string Id { get; }

    /// <inheritdoc />
    public abstract string DisplayName { get; }

    /// <inheritdoc />
    public abstract string Description { get; }

    /// <inheritdoc />
    public IReadOnlyList<SettingInfo> Settings { get; } = [];

    /// <inheritdoc />
    public ExplainerCost Cost => ExplainerCost.Cheap;

    /// <summary>The layer-resolution map (before upsampling) from one image's activations <paramref name="a"/> and
    /// gradients <paramref name="g"/>, both [K, hw].</summary>
    protected abstract float[] LayerMap(ReadOnlySpan<float> a, ReadOnlySpan<float> g, int k, int hw);

    /// <inheritdoc />
    public SaliencyMap Explain(IClassifier model, FloatTensor image, ExplanationRequest request, CancellationToken cancellationToken)
    {
        var (height, width, _, explainable, layer) = ExplainerSupport.PrepareCam(this, model, image, request);
        cancellationToken.ThrowIfCancellationRequested();

        var (r, cls, probability) = ExplainerSupport.BackwardForClass(model, explainable, image, request.ClassIndex, layer.Name, withInputGradient: false);
        var (k, lh, lw) = CamMath.LayerShape(r.Activations, layer.Name);
        var map = LayerMap(r.Activations.Item(0), r.LayerGradient.Item(0), k, lh * lw);
        return CamMath.Finish(map, lh, lw, height, width, cls, probability, layer.Name);
    }
}
