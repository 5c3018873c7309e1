using VacCnn.Contracts;
using VacCnn.Explainers.Shared;

namespace VacCnn.Explainers.Attribution;

/// <summary>
/// What the input-attribution methods share: the checks, the class to explain, gradients of that class's raw score
/// at many inputs (batched), and how a [3, H, W] attribution becomes a pixel map.
/// </summary>
internal static class InputAttribution
{
    /// <summary>
    /// The <c>positive</c> setting shared by all input attributions. Methods that multiply by the input (Gradient ×
    /// Input, Integrated Gradients) default to the positive part: their absolute value mostly redraws the picture's
    /// edges, and fails the model-randomisation check (Adebayo et al. 2018; measured here: Spearman trained vs
    /// randomised 0.60 and 0.52 with |a|, 0.05 and 0.06 with the positive part).
    /// </summary>
    public static SettingInfo PositiveSetting(int defaultValue) => new("positive",
        "0 shows how strongly each pixel matters either way (absolute value); 1 shows only the pixels that speak for the class (positive part).", defaultValue, 0, 1);

    /// <summary>
    /// The pixel map of an attribution [3, H, W] (one value per input element): Σ_c |a_c| (how much the pixel matters,
    /// whatever the sign), or with <paramref name="positive"/> max(Σ_c a_c, 0) (only evidence for the class).
    /// </summary>
    public static float[] PixelMap(ReadOnlySpan<float> attribution, int plane, bool positive)
    {
        var map = new float[plane];
        for (int c = 0; c < 3; c++)
        {
            var a = attribution.Slice(c * plane, plane);
            if (positive) for (int i = 0; i < plane; i++) map[i] += a[i];
            else for (int i = 0; i < plane; i++) map[i] += Math.Abs(a[i]);
        }
        if (positive) for (int i = 0; i < plane; i++) map[i] = Math.Max(map[i], 0);
        return map;
    }

    /// <summary>Reads the <c>positive</c> setting (0 or 1).</summary>
    public static bool Positive(ResolvedSettings settings) => settings.Int("positive") == 1;

    /// <summary>
    /// The class to explain (the predicted one unless given) with its probability, and the raw class scores of each
    /// of <paramref name="images"/> ([N, 3, H, W], e.g. the image and its baseline): one forward pass.
    /// </summary>
    public static (int ClassIndex, float Probability, float[] Scores) ClassAndScores(IClassifier model, IExplainableClassifier explainable,
        FloatTensor images, int? requested)
    {
        ExplainerSupport.CheckClass(model, requested);
        var (scores, _) = explainable.Forward(images, explainable.DefaultLayer);
        int cls = requested ?? ExplainerSupport.ArgMax(scores.Item(0));
        var raw = new float[images.Shape[0]];
        for (int i = 0; i < raw.Length; i++) raw[i] = scores.Item(i)[cls];
        return (cls, ExplainerSupport.Probability(model, scores.Item(0), cls), raw);
    }

    /// <summary>
    /// The mean gradient ([3, H, W], summed in double) of the raw score of <paramref name="cls"/> over
    /// <paramref name="count"/> inputs that <paramref name="fill"/> writes (input i into its span, in order),
    /// <paramref name="batch"/> at a time. Backward needs a layer although only the input gradient is used: the
    /// model's default.
    /// </summary>
    public static double[] MeanGradient(IExplainableClassifier explainable, int height, int width, int count, int batch, int cls,
        Action<int, Span<float>> fill, CancellationToken cancellationToken)
    {
        int per = 3 * height * width;
        var sum = new double[per];
        for (int start = 0; start < count; start += batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int n = Math.Min(batch, count - start);
            var inputs = new FloatTensor([n, 3, height, width], new float[n * per]);
            for (int i = 0; i < n; i++) fill(start + i, inputs.Item(i));
            var r = explainable.Backward(inputs, GradientTarget.ForAll(n, cls, GradientObjective.Score), explainable.DefaultLayer, withInputGradient: true);
            var g = r.InputGradient ?? throw new InvalidOperationException("the model returned no input gradient although one was asked for");
            for (int i = 0; i < n; i++)
            {
                var gi = g.Item(i);
                for (int j = 0; j < per; j++) sum[j] += gi[j];
            }
        }
        for (int j = 0; j < per; j++) sum[j] /= count;
        return sum;
    }
}
