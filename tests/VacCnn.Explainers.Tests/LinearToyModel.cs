using VacCnn.Contracts;
using VacCnn.Engine.Explanations;

namespace VacCnn.Explainers.Tests;

/// <summary>
/// A hand-written classifier whose gradients are analytic, for checking the explainers' maths:
/// the layer is A[k] = avgpool_pool(Σ_c P[k,c]·x[c]) (K channels at (H/pool)×(W/pool)), and
/// scores_j = Σ_k W[j,k]·mean_hw(S[k]·A[k]) + bias_j (logits). Hence dscore_j/dA[k,h,w] = W[j,k]·S[k,h,w]/(h·w),
/// which varies over positions (so Grad-CAM++'s α is not trivial) but not with the input.
/// Counts calls and batch sizes so tests can check batching.
/// </summary>
public sealed class LinearToyModel : IClassifier, IExplainableClassifier
{
    public const string LayerName = "toy_layer";

    public LinearToyModel(int size = 16, int pool = 2, int channels = 6, int classes = 4, int seed = 7, bool gradients = true)
    {
        Size = size; Pool = pool; K = channels; Classes = classes;
        Lh = size / pool;
        var rng = new Random(seed);
        float R() => (float)(rng.NextDouble() * 2 - 1);
        P = new float[channels, 3];
        W = new float[classes, channels];
        S = new float[channels, Lh * Lh];
        Bias = new float[classes];
        for (int k = 0; k < channels; k++) for (int c = 0; c < 3; c++) P[k, c] = R();
        for (int j = 0; j < classes; j++) for (int k = 0; k < channels; k++) W[j, k] = 3 * R();
        for (int k = 0; k < channels; k++) for (int i = 0; i < Lh * Lh; i++) S[k, i] = 1 + R(); // in [0, 2]
        _gradients = gradients;
        var prep = new PreprocessingSpec(size, size, size, ChannelOrder.Rgb, [127.5f, 127.5f, 127.5f], [127.5f, 127.5f, 127.5f]);
        Card = new ModelCard("toy", "Toy linear model", "Toy", 0, 0, classes, "toy", prep, OutputKind.Logits, LayerName, null, null, []);
    }

    private readonly bool _gradients;
    public int Size { get; }
    public int Pool { get; }
    public int K { get; }
    public int Classes { get; }
    /// <summary>Layer side (H/pool).</summary>
    public int Lh { get; }
    public float[,] P { get; }
    public float[,] W { get; }
    public float[,] S { get; }
    public float[] Bias { get; }

    public int PredictCalls, ForwardCalls, BackwardCalls, MaxPredictBatch, MaxBackwardBatch, BackwardImages;

    public ModelCard Card { get; }
    public IExplainableClassifier? Explainable => _gradients ? this : null;
    public IReadOnlyList<LayerInfo> CandidateLayers => [new LayerInfo(LayerName, K, Lh, Lh)];
    public string DefaultLayer => LayerName;

    /// <summary>A[k, h, w] of one image [3, Size, Size].</summary>
    public float[] Layer(ReadOnlySpan<float> x)
    {
        int plane = Size * Size, lhw = Lh * Lh;
        var a = new float[K * lhw];
        for (int k = 0; k < K; k++)
            for (int y = 0; y < Size; y++)
                for (int xx = 0; xx < Size; xx++)
                {
                    float v = 0;
                    for (int c = 0; c < 3; c++) v += P[k, c] * x[c * plane + y * Size + xx];
                    a[k * lhw + (y / Pool) * Lh + xx / Pool] += v / (Pool * Pool);
                }
        return a;
    }

    public float[] ScoresFromLayer(ReadOnlySpan<float> a)
    {
        int lhw = Lh * Lh;
        var s = new float[Classes];
        for (int j = 0; j < Classes; j++)
        {
            double acc = Bias[j];
            for (int k = 0; k < K; k++)
                for (int i = 0; i < lhw; i++) acc += W[j, k] * S[k, i] * a[k * lhw + i] / lhw;
            s[j] = (float)acc;
        }
        return s;
    }

    /// <summary>dscore_class/dA (the closed form the model is built around).</summary>
    public float[] LayerGradientFor(int cls)
    {
        int lhw = Lh * Lh;
        var g = new float[K * lhw];
        for (int k = 0; k < K; k++) for (int i = 0; i < lhw; i++) g[k * lhw + i] = W[cls, k] * S[k, i] / lhw;
        return g;
    }

    public FloatTensor PredictProbabilities(FloatTensor images)
    {
        Interlocked.Increment(ref PredictCalls);
        MaxPredictBatch = Math.Max(MaxPredictBatch, images.Shape[0]);
        var scores = Scores(images);
        for (int n = 0; n < images.Shape[0]; n++)
        {
            var row = scores.Item(n);
            float max = float.NegativeInfinity;
            foreach (float v in row) max = Math.Max(max, v);
            double sum = 0;
            for (int j = 0; j < row.Length; j++) { row[j] = MathF.Exp(row[j] - max); sum += row[j]; }
            for (int j = 0; j < row.Length; j++) row[j] = (float)(row[j] / sum);
        }
        return scores;
    }

    private FloatTensor Scores(FloatTensor images)
    {
        Check(images);
        int n = images.Shape[0];
        var scores = FloatTensor.Zeros(n, Classes);
        for (int i = 0; i < n; i++) ScoresFromLayer(Layer(images.Item(i))).CopyTo(scores.Item(i));
        return scores;
    }

    private (FloatTensor, FloatTensor) Activations(FloatTensor images)
    {
        int n = images.Shape[0], lhw = Lh * Lh;
        var acts = FloatTensor.Zeros(n, K, Lh, Lh);
        var scores = FloatTensor.Zeros(n, Classes);
        for (int i = 0; i < n; i++)
        {
            var a = Layer(images.Item(i));
            a.CopyTo(acts.Item(i));
            ScoresFromLayer(a).CopyTo(scores.Item(i));
        }
        return (scores, acts);
    }

    public (FloatTensor Scores, FloatTensor Activations) Forward(FloatTensor images, string layer)
    {
        Interlocked.Increment(ref ForwardCalls);
        Check(images);
        if (layer != LayerName) throw new ArgumentException(layer);
        return Activations(images);
    }

    // No one-run targeted pass: the host's two-run reference (forward, then the seeded backward).
    public GradientResult Backward(FloatTensor images, GradientTarget target, string layer, bool withInputGradient) =>
        GradientTargets.ForwardThenSeededBackward(this, images, target, layer, withInputGradient);

    public GradientResult Backward(FloatTensor images, FloatTensor outputSeed, string layer, bool withInputGradient)
    {
        Interlocked.Increment(ref BackwardCalls);
        Check(images);
        if (layer != LayerName) throw new ArgumentException(layer);
        int n = images.Shape[0], lhw = Lh * Lh, plane = Size * Size;
        if (outputSeed.Shape[0] != n || outputSeed.Shape[1] != Classes) throw new ArgumentException("seed shape");
        MaxBackwardBatch = Math.Max(MaxBackwardBatch, n);
        Interlocked.Add(ref BackwardImages, n);
        var (scores, acts) = Activations(images);
        var lg = FloatTensor.Zeros(n, K, Lh, Lh);
        FloatTensor? ig = withInputGradient ? FloatTensor.Zeros(n, 3, Size, Size) : null;
        for (int b = 0; b < n; b++)
        {
            var seed = outputSeed.Item(b);
            var g = lg.Item(b);
            for (int k = 0; k < K; k++)
                for (int i = 0; i < lhw; i++)
                {
                    double acc = 0;
                    for (int j = 0; j < Classes; j++) acc += seed[j] * W[j, k] * S[k, i] / lhw;
                    g[k * lhw + i] = (float)acc;
                }
            if (ig is null) continue;
            var gi = ig.Item(b);
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < Size; y++)
                    for (int x = 0; x < Size; x++)
                    {
                        double acc = 0;
                        for (int k = 0; k < K; k++) acc += g[k * lhw + (y / Pool) * Lh + x / Pool] * P[k, c] / (Pool * Pool);
                        gi[c * plane + y * Size + x] = (float)acc;
                    }
        }
        return new GradientResult(scores, acts, lg, ig);
    }

    public int ScaledCalls, MaxScaledRows;

    /// <summary>The scores of one image with A[k] multiplied by each row's factors (the layer then goes on linearly).</summary>
    public FloatTensor ScoresWithChannelsScaled(FloatTensor image, string layer, FloatTensor channelScales)
    {
        Interlocked.Increment(ref ScaledCalls);
        Check(image);
        if (layer != LayerName) throw new ArgumentException(layer);
        int n = channelScales.Shape[0], lhw = Lh * Lh;
        MaxScaledRows = Math.Max(MaxScaledRows, n);
        var a = Layer(image.Item(0));
        var scores = FloatTensor.Zeros(n, Classes);
        for (int r = 0; r < n; r++)
        {
            var scaled = (float[])a.Clone();
            for (int k = 0; k < K; k++) for (int i = 0; i < lhw; i++) scaled[k * lhw + i] *= channelScales.Item(r)[k];
            ScoresFromLayer(scaled).CopyTo(scores.Item(r));
        }
        return scores;
    }

    private void Check(FloatTensor images)
    {
        if (images.Shape.Length != 4 || images.Shape[1] != 3 || images.Shape[2] != Size || images.Shape[3] != Size)
            throw new ArgumentException($"bad shape [{string.Join(",", images.Shape)}]");
    }

    /// <summary>A reproducible random image [1, 3, Size, Size] with values in [−1, 1].</summary>
    public FloatTensor RandomImage(int seed)
    {
        var rng = new Random(seed);
        var t = FloatTensor.Zeros(1, 3, Size, Size);
        for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)(rng.NextDouble() * 2 - 1);
        return t;
    }

    public void Dispose() { }
}
