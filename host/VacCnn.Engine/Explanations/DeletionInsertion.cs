using VacCnn.Contracts;
using VacCnn.Explainers.Shared;

namespace VacCnn.Engine.Explanations;

/// <summary>
/// How faithful a map is to the model (Petsiuk et al., RISE, BMVC 2018): the class probability while the map's most
/// salient pixels are removed (deletion; lower area = more faithful) or inserted (insertion; higher = more faithful).
/// </summary>
/// <param name="Deletion">Area under the deletion curve, 0..1.</param>
/// <param name="Insertion">Area under the insertion curve, 0..1.</param>
/// <param name="DeletionCurve">Probability of the explained class after removing k/steps of the pixels, k = 0..steps.</param>
/// <param name="InsertionCurve">Probability after inserting k/steps of the pixels into the blurred image, k = 0..steps.</param>
/// <param name="Millis">Time the measurement took (its forward passes), milliseconds.</param>
public sealed record ExplanationQuality(double Deletion, double Insertion, float[] DeletionCurve, float[] InsertionCurve, long Millis = 0)
{
    /// <summary>Number of perturbation steps (points on each curve − 1).</summary>
    public int Steps => DeletionCurve.Length - 1;
}

/// <summary>
/// Deletion and insertion AUC of a saliency map, over the model's forward pass only (any classifier, with or without
/// gradients). The perturbation, in the model's crop: pixels are ranked by map value (highest first, ties by position
/// in reading order) and taken in <c>steps</c> equal groups. <b>Deletion</b> sets them to black (pixel value 0, i.e.
/// −mean/std after normalisation). <b>Insertion</b> starts from the crop blurred with a Gaussian of σ = 10 px per
/// 224 px of crop (the blurred baseline of Integrated Gradients) and restores the original pixels. Each curve is the
/// softmax probability of the explained class at k/steps, k = 0..steps; the area is the trapezoidal rule over [0, 1].
/// All 2·steps + 1 perturbed images go through the model in batches.
/// </summary>
public static class DeletionInsertion
{
    /// <summary>Steps used when nothing else is configured (33 forward passes per explanation).</summary>
    public const int DefaultSteps = 16;

    /// <summary>Most steps accepted.</summary>
    public const int MaxSteps = 256;

    /// <summary>Perturbed images per forward pass.</summary>
    public const int BatchSize = 16;

    /// <summary>Blur of the insertion start image, in pixels per 224 pixels of crop width.</summary>
    public const double BlurSigmaPer224 = 10;

    /// <summary>Measures a crop-resolution map of <paramref name="image"/> ([1, 3, H, W], preprocessed for the model).</summary>
    /// <param name="model">The classifier (forward passes only).</param>
    /// <param name="image">The preprocessed image.</param>
    /// <param name="map">Map values at the crop resolution, row-major (H × W).</param>
    /// <param name="classIndex">Class whose probability is followed.</param>
    /// <param name="steps">Pixel groups (1..<see cref="MaxSteps"/>).</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    public static ExplanationQuality Measure(IClassifier model, FloatTensor image, ReadOnlySpan<float> map, int classIndex, int steps,
        CancellationToken cancellationToken = default)
    {
        if (image.Shape is not [1, 3, int height, int width])
            throw new ArgumentException($"one preprocessed image [1, 3, H, W] expected, got [{string.Join(", ", image.Shape)}]", nameof(image));
        int plane = height * width;
        if (map.Length != plane) throw new ArgumentException($"map holds {map.Length} values for a {width}×{height} crop", nameof(map));
        if (steps < 1 || steps > MaxSteps) throw new ArgumentOutOfRangeException(nameof(steps), steps, $"steps must be from 1 to {MaxSteps}");
        if (classIndex < 0 || classIndex >= model.Card.ClassCount)
            throw new ArgumentOutOfRangeException(nameof(classIndex), classIndex, $"class must be in 0..{model.Card.ClassCount - 1}");
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var order = Order(map);
        var spec = model.Card.Preprocessing;
        var black = new float[3];
        for (int c = 0; c < 3; c++) black[c] = -spec.Mean[c] / spec.Std[c];
        var blurred = GaussianBlur.Apply(image.Data, 3, height, width, BlurSigmaPer224 * width / 224.0);

        // Images 0..steps are deletion k = 0..steps (k = 0, the untouched crop, is also insertion k = steps); then
        // insertion k = 0..steps−1. Each is built from scratch: a group boundary depends only on k.
        int count = 2 * steps + 1;
        var probabilities = new float[count];
        int size = 3 * plane;
        for (int start = 0; start < count; start += BatchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int n = Math.Min(BatchSize, count - start);
            var batch = new float[n * size];
            for (int b = 0; b < n; b++)
            {
                var dst = batch.AsSpan(b * size, size);
                int i = start + b;
                if (i <= steps)
                {
                    image.Data.AsSpan(0, size).CopyTo(dst);
                    foreach (int p in order.AsSpan(0, Taken(i, steps, plane)))
                        for (int c = 0; c < 3; c++) dst[c * plane + p] = black[c];
                }
                else
                {
                    blurred.CopyTo(dst);
                    foreach (int p in order.AsSpan(0, Taken(i - steps - 1, steps, plane)))
                        for (int c = 0; c < 3; c++) dst[c * plane + p] = image.Data[c * plane + p];
                }
            }
            var output = model.PredictProbabilities(new FloatTensor([n, 3, height, width], batch));
            int classes = output.Shape[1];
            for (int b = 0; b < n; b++) probabilities[start + b] = output.Data[b * classes + classIndex];
        }

        var deletion = new float[steps + 1];
        var insertion = new float[steps + 1];
        for (int k = 0; k <= steps; k++) deletion[k] = probabilities[k];
        insertion[steps] = probabilities[0];
        for (int k = 0; k < steps; k++) insertion[k] = probabilities[steps + 1 + k];
        return new ExplanationQuality(Area(deletion), Area(insertion), deletion, insertion, clock.ElapsedMilliseconds);
    }

    /// <summary>Pixels taken after k of <paramref name="steps"/> groups (⌊k·pixels/steps⌋).</summary>
    public static int Taken(int k, int steps, int pixels) => (int)((long)k * pixels / steps);

    /// <summary>Pixel indices by map value, highest first; equal values in reading order (a stable sort).</summary>
    public static int[] Order(ReadOnlySpan<float> map)
    {
        var order = new int[map.Length];
        var keys = new float[map.Length];
        for (int i = 0; i < order.Length; i++)
        {
            order[i] = i;
            // NaN never comes out of a checked map; ranking it last keeps the order total anyway.
            keys[i] = float.IsNaN(map[i]) ? float.NegativeInfinity : map[i];
        }
        // The index breaks ties, so the (unstable) introsort gives one order.
        Array.Sort(order, (a, b) => keys[a] != keys[b] ? keys[b].CompareTo(keys[a]) : a.CompareTo(b));
        return order;
    }

    /// <summary>Trapezoidal area of a curve sampled at k/(n−1), k = 0..n−1.</summary>
    public static double Area(ReadOnlySpan<float> curve)
    {
        if (curve.Length < 2) throw new ArgumentException("a curve needs at least two points", nameof(curve));
        double sum = ((double)curve[0] + curve[^1]) / 2;
        for (int i = 1; i < curve.Length - 1; i++) sum += curve[i];
        return sum / (curve.Length - 1);
    }
}
