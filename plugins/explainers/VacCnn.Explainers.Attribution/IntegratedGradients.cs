using VacCnn.Contracts;
using VacCnn.Explainers.Shared;

namespace VacCnn.Explainers.Attribution;

/// <summary>
/// Integrated Gradients (Sundararajan et al., ICML 2017): a = (x − x′) ⊙ ∫₀¹ ∂S_c/∂x (x′ + α(x − x′)) dα, with S_c
/// the raw class score (the logit) and the integral by the midpoint rule over <c>steps</c> points
/// α_i = (i − ½)/m, whose gradients go through the model <c>batch</c> at a time. Baselines x′: black (the input tensor
/// of an all-black picture, per channel (0 − mean)/std) or the image blurred by a Gaussian of σ = <c>blur</c> pixels
/// (Sturmfels et al., Distill 2020: "missing" means "without detail", not "black"). Completeness: Σ a = S_c(x) −
/// S_c(x′) up to the quadrature error, which shrinks as the steps grow (ReLU networks are piecewise linear along the
/// path, so the error falls roughly as 1/m where a kink is crossed; measured on MobileNet V1: 10 % of the score
/// difference at 4 steps, 5 % at 32, 0.4 % at 256). Pixel resolution; the positive part by default (see
/// <see cref="InputAttribution.PositiveSetting"/>).
/// </summary>
public sealed class IntegratedGradients : IExplainer
{
    /// <summary>Value of the <c>baseline</c> setting for a black image.</summary>
    public const int BlackBaseline = 0;

    /// <summary>Value of the <c>baseline</c> setting for the blurred image.</summary>
    public const int BlurredBaseline = 1;

    /// <inheritdoc />
    public string Id => "integratedgradients";

    /// <inheritdoc />
    public string DisplayName => "Integrated Gradients";

    /// <inheritdoc />
    public string Description =>
        "Adds up the pixel gradients along a path from a black (or blurred) picture to the image, so the pixel values sum to the change in the class score; costs one forward pass plus one forward and backward pass per step (32 by default).";

    /// <inheritdoc />
    public IReadOnlyList<SettingInfo> Settings { get; } =
    [
        new("steps", "Points on the path from the baseline to the image (more is more exact and slower).", 32, 1, 1024),
        new("baseline", "Start of the path: 0 = a black picture, 1 = the image blurred (no detail).", BlackBaseline, 0, 1),
        new("blur", "Blur strength (Gaussian σ in pixels of the model's input) of the blurred baseline.", 10, 0.5, 100),
        new("batch", "How many path points go through the model at once (speed and memory only, not the result).", 16, 1, 256),
        InputAttribution.PositiveSetting(1),
    ];

    /// <inheritdoc />
    public SaliencyMap Explain(IClassifier model, FloatTensor image, ExplanationRequest request, CancellationToken cancellationToken)
    {
        ExplainerSupport.CheckImage(model, image);
        var settings = ExplainerSupport.ResolveSettings(Id, Settings, request);
        var r = Attribute(model, image, request.ClassIndex, settings, cancellationToken);
        int height = image.Shape[2], width = image.Shape[3];
        var map = InputAttribution.PixelMap(r.Attributions, height * width, InputAttribution.Positive(settings));
        return ExplainerSupport.ToSaliencyMap(map, height, width, r.ClassIndex, r.Probability, null);
    }

    /// <summary>
    /// The attributions [3, H, W] themselves, with the raw class scores at the image and at the baseline, for checking
    /// completeness. <paramref name="settings"/> as in a request (missing ones take defaults).
    /// </summary>
    public IntegratedGradientsResult Attributions(IClassifier model, FloatTensor image, int? classIndex, IReadOnlyDictionary<string, double> settings,
        CancellationToken cancellationToken)
    {
        ExplainerSupport.CheckImage(model, image);
        var resolved = ExplainerSupport.ResolveSettings(Id, Settings, new ExplanationRequest(classIndex, null, 0, settings));
        return Attribute(model, image, classIndex, resolved, cancellationToken);
    }

    private static IntegratedGradientsResult Attribute(IClassifier model, FloatTensor image, int? classIndex, ResolvedSettings settings,
        CancellationToken cancellationToken)
    {
        var explainable = ExplainerSupport.RequireGradients(model);
        cancellationToken.ThrowIfCancellationRequested();
        int height = image.Shape[2], width = image.Shape[3], per = image.Data.Length, steps = settings.Int("steps");
        var baseline = Baseline(model.Card.Preprocessing, image, settings.Int("baseline"), settings["blur"]);

        // The image and its baseline in one forward pass: the class, its probability and both end scores.
        var ends = new FloatTensor([2, 3, height, width], [.. image.Data, .. baseline]);
        var (cls, probability, scores) = InputAttribution.ClassAndScores(model, explainable, ends, classIndex);

        var delta = new float[per];
        for (int j = 0; j < per; j++) delta[j] = image.Data[j] - baseline[j];
        var mean = InputAttribution.MeanGradient(explainable, height, width, steps, settings.Int("batch"), cls,
            (i, input) =>
            {
                float alpha = (float)((i + 0.5) / steps);
                for (int j = 0; j < per; j++) input[j] = baseline[j] + alpha * delta[j];
            },
            cancellationToken);
        var attributions = new float[per];
        for (int j = 0; j < per; j++) attributions[j] = (float)(delta[j] * mean[j]);
        return new IntegratedGradientsResult(attributions, cls, probability, scores[0], scores[1]);
    }

    /// <summary>
    /// The baseline input tensor: black ((0 − mean)/std per channel of the tensor) or the image blurred (the
    /// normalisation is a per-channel affine map, so blurring the tensor equals blurring the picture).
    /// </summary>
    public static float[] Baseline(PreprocessingSpec preprocessing, FloatTensor image, int kind, double blur)
    {
        int height = image.Shape[2], width = image.Shape[3], plane = height * width;
        if (kind == BlurredBaseline) return GaussianBlur.Apply(image.Data, 3, height, width, blur);
        var black = new float[3 * plane];
        for (int c = 0; c < 3; c++) Array.Fill(black, -preprocessing.Mean[c] / preprocessing.Std[c], c * plane, plane);
        return black;
    }
}

/// <summary>What <see cref="IntegratedGradients.Attributions"/> returns.</summary>
/// <param name="Attributions">[3, H, W]: (x − x′) ⊙ the mean path gradient.</param>
/// <param name="ClassIndex">The class explained.</param>
/// <param name="Probability">The model's probability for it at the image.</param>
/// <param name="ScoreAtImage">Raw class score S_c(x).</param>
/// <param name="ScoreAtBaseline">Raw class score S_c(x′).</param>
public sealed record IntegratedGradientsResult(float[] Attributions, int ClassIndex, float Probability, float ScoreAtImage, float ScoreAtBaseline);
