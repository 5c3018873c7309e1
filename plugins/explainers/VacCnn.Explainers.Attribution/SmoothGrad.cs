using VacCnn.Contracts;
using VacCnn.Explainers.Shared;

namespace VacCnn.Explainers.Attribution;

/// <summary>
/// SmoothGrad (Smilkov et al., 2017): the mean of the input gradient ∂S_c/∂x over n noisy copies x + ε_i,
/// ε_i ~ N(0, σ²) with σ = <c>noise</c> × (max(x) − min(x)) (the paper's noise level, 0.15 by default). The gradients
/// are averaged with their signs, as in the paper, and only then made a pixel map. The class is fixed from the
/// clean image (the predicted one unless given). The noise comes from the request's seed: the same seed gives the
/// same map. Copies go through the model <c>batch</c> at a time.
/// </summary>
public sealed class SmoothGrad : IExplainer
{
    /// <inheritdoc />
    public string Id => "smoothgrad";

    /// <inheritdoc />
    public string DisplayName => "SmoothGrad";

    /// <inheritdoc />
    public string Description =>
        "Averages the pixel-level gradient over noisy copies of the image, which removes most of its speckle; costs one forward pass plus one forward and backward pass per copy (25 by default).";

    /// <inheritdoc />
    public IReadOnlyList<SettingInfo> Settings { get; } =
    [
        new("samples", "How many noisy copies are averaged (more is smoother and slower).", 25, 1, 1000),
        new("noise", "Noise strength as a fraction of the image's value range (the paper's 10–20 % work best).", 0.15, 0, 1),
        new("batch", "How many copies go through the model at once (speed and memory only, not the result).", 16, 1, 256),
        InputAttribution.PositiveSetting(0),
    ];

    /// <inheritdoc />
    public SaliencyMap Explain(IClassifier model, FloatTensor image, ExplanationRequest request, CancellationToken cancellationToken)
    {
        var (height, width) = ExplainerSupport.CheckImage(model, image);
        var settings = ExplainerSupport.ResolveSettings(Id, Settings, request);
        var explainable = ExplainerSupport.RequireGradients(model);
        int samples = settings.Int("samples");
        cancellationToken.ThrowIfCancellationRequested();
        var (cls, probability, _) = InputAttribution.ClassAndScores(model, explainable, image, request.ClassIndex);
        var mean = MeanGradient(explainable, image, cls, samples, settings["noise"], settings.Int("batch"), request.Seed, cancellationToken);
        var map = InputAttribution.PixelMap(mean, height * width, InputAttribution.Positive(settings));
        return ExplainerSupport.ToSaliencyMap(map, height, width, cls, probability, null);
    }

    /// <summary>
    /// The noise of copy i, in the order the copies are made: <paramref name="samples"/> draws of
    /// image-size noise from <see cref="GaussianSource"/>(seed), one after another. Public so that an independent
    /// implementation can be given the same noise.
    /// </summary>
    public static float[][] Noise(int length, int samples, double sigma, int seed)
    {
        var rng = new GaussianSource(seed);
        var result = new float[samples][];
        for (int i = 0; i < samples; i++) { result[i] = new float[length]; rng.FillSerial(result[i], sigma); }
        return result;
    }

    /// <summary>σ of the noise for <paramref name="image"/> at noise level <paramref name="noise"/>.</summary>
    public static double Sigma(FloatTensor image, double noise)
    {
        var (min, max) = Vectors.MinMax(image.Data);
        return noise * (max - min);
    }

    /// <summary>(1/n) Σ_i ∂S_c/∂x at x + ε_i, as [3, H, W].</summary>
    private static float[] MeanGradient(IExplainableClassifier explainable, FloatTensor image, int cls, int samples, double noise,
        int batch, int seed, CancellationToken cancellationToken)
    {
        int height = image.Shape[2], width = image.Shape[3], per = image.Data.Length;
        double sigma = Sigma(image, noise);
        var rng = new GaussianSource(seed);
        var eps = new float[per];
        var mean = InputAttribution.MeanGradient(explainable, height, width, samples, batch, cls,
            (_, input) =>
            {
                rng.FillSerial(eps, sigma); // copies are filled in order, so copy i gets the i-th draw (see Noise)
                for (int j = 0; j < per; j++) input[j] = image.Data[j] + eps[j];
            },
            cancellationToken);
        return Array.ConvertAll(mean, v => (float)v);
    }
}
