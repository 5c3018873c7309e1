using VacCnn.Contracts;
using VacCnn.Explainers.Shared;

namespace VacCnn.Explainers.Cam;

/// <summary>
/// Smooth Grad-CAM++ (Omeiza et al., 2019): Grad-CAM++ computed on <c>samples</c> noisy copies of the input
/// (Gaussian noise, σ = spread × (max − min) of the input tensor) and averaged. As in the paper's code, each copy's
/// layer-resolution map (from that copy's own activations and gradients) is min-max normalised before averaging, so
/// no single copy dominates; with zero noise the result equals Grad-CAM++. Noisy copies go through the model in
/// batches; the noise comes from a generator seeded with the request's seed.
/// </summary>
public sealed class SmoothGradCamPlusPlus : IExplainer
{
    /// <inheritdoc />
    public string Id => "smoothgradcampp";

    /// <inheritdoc />
    public string DisplayName => "Smooth Grad-CAM++";

    /// <inheritdoc />
    public string Description =>
        "Grad-CAM++ averaged over noisy copies of the image, which gives steadier, less speckled maps; costs one forward and one backward pass per noisy copy (25 by default).";

    /// <inheritdoc />
    public IReadOnlyList<SettingInfo> Settings { get; } =
    [
        new("samples", "How many noisy copies are averaged: more gives a smoother map but takes proportionally longer.", 25, 1, 500),
        new("spread", "Noise strength as a fraction of the image's value range (0 = no noise, i.e. plain Grad-CAM++).", 0.15, 0, 1),
        new("batch", "How many noisy copies go through the model at once (speed and memory only, not the result).", 8, 1, 64),
    ];

    /// <inheritdoc />
    public SaliencyMap Explain(IClassifier model, FloatTensor image, ExplanationRequest request, CancellationToken cancellationToken)
    {
        var (height, width, settings, explainable, layer) = ExplainerSupport.PrepareCam(this, model, image, request);
        int samples = settings.Int("samples"), batch = settings.Int("batch");
        double spread = settings["spread"];
        var (cls, probability) = ExplainerSupport.ChooseClass(model, image, request.ClassIndex);

        var x = image.Data;
        double sigma = spread * (x.Max() - x.Min());
        var noise = new GaussianSource(request.Seed);
        var draw = new float[x.Length]; // stays zero when spread is 0
        float[]? total = null;
        int lh = 0, lw = 0;
        for (int start = 0; start < samples; start += batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int n = Math.Min(batch, samples - start);
            var noisy = new FloatTensor([n, 3, height, width], new float[n * x.Length]);
            for (int i = 0; i < n; i++)
            {
                var item = noisy.Item(i);
                if (sigma > 0) noise.Fill(draw, sigma);
                Vectors.Blend(x, 1, draw, 1, item); // x + noise
            }
            var r = explainable.Backward(noisy, ExplainerSupport.OneHotSeed(n, model.Card.ClassCount, cls), layer.Name, withInputGradient: false);
            (int k, lh, lw) = CamMath.LayerShape(r.Activations, layer.Name);
            total ??= new float[lh * lw];
            for (int i = 0; i < n; i++)
            {
                var a = r.Activations.Item(i);
                var weights = CamMath.GradCamPlusPlusWeights(a, r.LayerGradient.Item(i), k, lh * lw);
                var map = ExplainerSupport.Normalise(CamMath.WeightedSumRelu(a, weights, lh * lw));
                for (int p = 0; p < map.Length; p++) total[p] += map[p] / samples;
            }
        }
        return CamMath.Finish(total!, lh, lw, height, width, cls, probability, layer.Name);
    }
}
