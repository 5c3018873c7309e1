using System.Numerics;
using System.Runtime.InteropServices;
using VacCnn.Contracts;

// Compiled into each explainer plugin (linked source, internal): plugins may reference only the contracts, so
// shared helpers cannot live in a common assembly.
namespace VacCnn.Explainers.Shared;

/// <summary>Settings of one request after defaults were applied and bounds checked.</summary>
internal sealed class ResolvedSettings(Dictionary<string, double> values)
{
    public double this[string name] => values[name];

    /// <summary>A setting that must be a whole number (e.g. a sample count).</summary>
    public int Int(string name)
    {
        double v = values[name];
        if (v != Math.Floor(v))
            throw new ArgumentException($"setting '{name}' must be a whole number, got {v}", name);
        return (int)v;
    }
}

/// <summary>The checked inputs of a class-activation-map explainer (see <see cref="ExplainerSupport.PrepareCam"/>).</summary>
internal sealed record PreparedCam(int Height, int Width, ResolvedSettings Settings, IExplainableClassifier Explainable, LayerInfo Layer);

internal static class ExplainerSupport
{
    /// <summary>
    /// Applies defaults and checks every value against its bounds. Unknown names are rejected so a typo does not
    /// silently run with the default.
    /// </summary>
    public static ResolvedSettings ResolveSettings(string explainerId, IReadOnlyList<SettingInfo> infos, ExplanationRequest request)
    {
        var values = infos.ToDictionary(s => s.Name, s => s.Default, StringComparer.Ordinal);
        foreach (var (name, value) in request.Settings ?? new Dictionary<string, double>())
        {
            var info = infos.FirstOrDefault(s => s.Name == name)
                ?? throw new ArgumentException(
                    $"{explainerId}: unknown setting '{name}'; known settings: {(infos.Count == 0 ? "none" : string.Join(", ", infos.Select(s => s.Name)))}",
                    nameof(request));
            if (double.IsNaN(value) || value < info.Min || value > info.Max)
                throw new ArgumentOutOfRangeException(name, value, $"{explainerId}: setting '{name}' must be between {info.Min} and {info.Max}");
            values[name] = value;
        }
        return new ResolvedSettings(values);
    }

    /// <summary>
    /// What every class-activation-map explainer checks first, in this order: the image, the settings, the gradient
    /// capability, the target layer.
    /// </summary>
    public static PreparedCam PrepareCam(IExplainer explainer, IClassifier model, FloatTensor image, ExplanationRequest request)
    {
        var (height, width) = CheckImage(model, image);
        var settings = ResolveSettings(explainer.Id, explainer.Settings, request);
        var explainable = RequireGradients(model);
        return new PreparedCam(height, width, settings, explainable, ResolveLayer(model, explainable, request.Layer));
    }

    /// <summary>Checks the image is one preprocessed crop of the model's size.</summary>
    public static (int Height, int Width) CheckImage(IClassifier model, FloatTensor image)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(image);
        var p = model.Card.Preprocessing;
        if (image.Shape.Length != 4 || image.Shape[0] != 1 || image.Shape[1] != 3 || image.Shape[2] != p.CropHeight || image.Shape[3] != p.CropWidth)
            throw new ArgumentException(
                $"model {model.Card.Id}: the image must be [1,3,{p.CropHeight},{p.CropWidth}], got [{string.Join(",", image.Shape)}]", nameof(image));
        if (image.Data.Length != image.Length)
            throw new ArgumentException("image data length does not match its shape", nameof(image));
        return (p.CropHeight, p.CropWidth);
    }

    /// <summary>The gradient capability, or a clear error naming the model.</summary>
    public static IExplainableClassifier RequireGradients(IClassifier model) =>
        model.Explainable ?? throw new NotSupportedException($"model {model.Card.Id} provides no gradients");

    /// <summary>The requested layer (or the model's default) among the candidates, or an error listing them.</summary>
    public static LayerInfo ResolveLayer(IClassifier model, IExplainableClassifier explainable, string? requested)
    {
        string name = requested ?? explainable.DefaultLayer;
        return explainable.CandidateLayers.FirstOrDefault(l => l.Name == name)
            ?? throw new ArgumentException(
                $"model {model.Card.Id} has no layer '{name}'; candidate layers: {string.Join(", ", explainable.CandidateLayers.Select(l => l.Name))}",
                nameof(requested));
    }

    /// <summary>Refuses a requested class outside the model's classes, naming the model and its range.</summary>
    public static void CheckClass(IClassifier model, int? requested)
    {
        int classes = model.Card.ClassCount;
        if (requested is int c && (c < 0 || c >= classes))
            throw new ArgumentOutOfRangeException(nameof(requested), c, $"model {model.Card.Id} has classes 0..{classes - 1}");
    }

    /// <summary>The class to explain (the predicted one unless given) and the model's probability for it.</summary>
    public static (int ClassIndex, float Probability) ChooseClass(IClassifier model, FloatTensor image, int? requested)
    {
        CheckClass(model, requested);
        var probs = model.PredictProbabilities(image).Item(0);
        int cls = requested ?? ArgMax(probs);
        return (cls, probs[cls]);
    }

    /// <summary>
    /// The backward pass for the requested class (the predicted one when none is) with that class's probability, all
    /// from ONE targeted pass: the model finds the top-1 class and seeds its score inside the same run.
    /// </summary>
    public static (GradientResult Result, int ClassIndex, float Probability) BackwardForClass(IClassifier model,
        IExplainableClassifier explainable, FloatTensor image, int? requested, string layer, bool withInputGradient)
    {
        CheckClass(model, requested);
        var r = explainable.Backward(image, GradientTarget.ForAll(1, requested, GradientObjective.Score), layer, withInputGradient);
        int cls = r.Classes is [int chosen] ? chosen
            : throw new InvalidOperationException($"model {model.Card.Id} did not report which class its targeted backward pass differentiated");
        return (r, cls, Probability(model, r.Scores.Item(0), cls));
    }

    /// <summary>
    /// One forward pass for the gradient-free layer methods: the raw scores, the activations at
    /// <paramref name="layer"/>, the requested class (the predicted one when none is) and its probability.
    /// </summary>
    public static (FloatTensor Scores, FloatTensor Activations, int ClassIndex, float Probability) ForwardForClass(IClassifier model,
        IExplainableClassifier explainable, FloatTensor image, int? requested, string layer)
    {
        CheckClass(model, requested);
        var (scores, activations) = explainable.Forward(image, layer);
        int cls = requested ?? ArgMax(scores.Item(0));
        return (scores, activations, cls, Probability(model, scores.Item(0), cls));
    }

    /// <summary>The model's probability for class <paramref name="c"/> from one image's raw scores.</summary>
    public static float Probability(IClassifier model, ReadOnlySpan<float> scores, int c) =>
        model.Card.OutputKind == OutputKind.Logits ? Softmax(scores)[c] : scores[c];

    /// <summary>Index of the first maximum (<see cref="Numerics.Scores.ArgMax"/>).</summary>
    public static int ArgMax(ReadOnlySpan<float> v) => Numerics.Scores.ArgMax(v);

    /// <summary>Probabilities from raw scores (<see cref="Numerics.Scores.Softmax"/>).</summary>
    public static float[] Softmax(ReadOnlySpan<float> scores)
    {
        var p = new float[scores.Length];
        Numerics.Scores.Softmax(scores, p);
        return p;
    }

    /// <summary>A [n, classes] seed that is one-hot on <paramref name="classIndex"/> for every row.</summary>
    public static FloatTensor OneHotSeed(int n, int classes, int classIndex)
    {
        var seed = FloatTensor.Zeros(n, classes);
        for (int i = 0; i < n; i++) seed.Data[i * classes + classIndex] = 1f;
        return seed;
    }

    /// <summary>Min-max normalisation to [0, 1]; a constant map (e.g. all zero) becomes all zero.</summary>
    public static float[] Normalise(float[] map)
    {
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (float v in map)
        {
            if (!float.IsFinite(v)) throw new InvalidOperationException("the saliency map has non-finite values (NaN or infinity in the model's gradients)");
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }
        var result = new float[map.Length];
        float range = max - min;
        if (!(range > 0)) return result;
        for (int i = 0; i < map.Length; i++) result[i] = (map[i] - min) / range;
        return result;
    }

    public static SaliencyMap ToSaliencyMap(float[] mapAtInput, int height, int width, int cls, float probability, string? layer) =>
        new(width, height, Normalise(mapAtInput), cls, probability, layer);
}

/// <summary>
/// Bilinear resizing of a single-channel map and its adjoint (for chaining gradients through an upsampling).
/// <c>alignCorners = false</c> matches OpenCV's resize / PyTorch's interpolate default; <c>true</c> matches
/// PyTorch's UpsamplingBilinear2d.
/// </summary>
internal sealed class Bilinear
{
    private readonly (int I0, int I1, float W1)[] _rows, _cols;

    public Bilinear(int inHeight, int inWidth, int outHeight, int outWidth, bool alignCorners)
    {
        InHeight = inHeight; InWidth = inWidth; OutHeight = outHeight; OutWidth = outWidth;
        _rows = Table(inHeight, outHeight, alignCorners);
        _cols = Table(inWidth, outWidth, alignCorners);
    }

    public int InHeight { get; }
    public int InWidth { get; }
    public int OutHeight { get; }
    public int OutWidth { get; }

    private static (int, int, float)[] Table(int inSize, int outSize, bool alignCorners)
    {
        var t = new (int, int, float)[outSize];
        for (int o = 0; o < outSize; o++)
        {
            double src = alignCorners
                ? (outSize > 1 ? o * (double)(inSize - 1) / (outSize - 1) : 0)
                : Math.Max(0, (o + 0.5) * inSize / outSize - 0.5);
            int i0 = Math.Min((int)Math.Floor(src), inSize - 1);
            int i1 = Math.Min(i0 + 1, inSize - 1);
            t[o] = (i0, i1, (float)(src - i0));
        }
        return t;
    }

    /// <summary>Resizes <paramref name="src"/> (InHeight × InWidth, row-major) into <paramref name="dst"/>.</summary>
    /// <remarks>
    /// Separable: each input row is first interpolated across (InHeight × OutWidth values), then every output row is
    /// a vectorised blend of two of those rows. Score-CAM resizes hundreds of maps and BBMP one per step, so this is hot.
    /// </remarks>
    public void Resize(ReadOnlySpan<float> src, Span<float> dst)
    {
        var across = new float[InHeight * OutWidth];
        for (int r = 0; r < InHeight; r++)
        {
            var row = src.Slice(r * InWidth, InWidth);
            var o = across.AsSpan(r * OutWidth, OutWidth);
            for (int x = 0; x < OutWidth; x++)
            {
                var (c0, c1, wx) = _cols[x];
                o[x] = row[c0] * (1 - wx) + row[c1] * wx;
            }
        }
        for (int y = 0; y < OutHeight; y++)
        {
            var (r0, r1, wy) = _rows[y];
            var d = dst.Slice(y * OutWidth, OutWidth);
            Vectors.Blend(across.AsSpan(r0 * OutWidth, OutWidth), 1 - wy, across.AsSpan(r1 * OutWidth, OutWidth), wy, d);
        }
    }

    public float[] Resize(ReadOnlySpan<float> src)
    {
        var dst = new float[OutHeight * OutWidth];
        Resize(src, dst);
        return dst;
    }

    /// <summary>The transpose of <see cref="Resize(ReadOnlySpan{float}, Span{float})"/>: scatters output gradients back to the input grid.</summary>
    public float[] Adjoint(ReadOnlySpan<float> gradOut)
    {
        // The transpose of the two passes in reverse order: rows first (vectorised), then across.
        var across = new float[InHeight * OutWidth];
        for (int y = 0; y < OutHeight; y++)
        {
            var (r0, r1, wy) = _rows[y];
            var gy = gradOut.Slice(y * OutWidth, OutWidth);
            Vectors.AddScaled(gy, 1 - wy, across.AsSpan(r0 * OutWidth, OutWidth));
            Vectors.AddScaled(gy, wy, across.AsSpan(r1 * OutWidth, OutWidth));
        }
        var g = new float[InHeight * InWidth];
        for (int r = 0; r < InHeight; r++)
        {
            var a = across.AsSpan(r * OutWidth, OutWidth);
            var gr = g.AsSpan(r * InWidth, InWidth);
            for (int x = 0; x < OutWidth; x++)
            {
                var (c0, c1, wx) = _cols[x];
                gr[c0] += a[x] * (1 - wx);
                gr[c1] += a[x] * wx;
            }
        }
        return g;
    }
}

/// <summary>
/// The few vector loops the explainers need (plugins reference only the contracts, so System.Numerics.Tensors is not
/// available here; <see cref="Vector{T}"/> is in the base library).
/// </summary>
internal static class Vectors
{
    /// <summary>d = a·wa + b·wb.</summary>
    public static void Blend(ReadOnlySpan<float> a, float wa, ReadOnlySpan<float> b, float wb, Span<float> d)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var va = MemoryMarshal.Cast<float, Vector<float>>(a);
            var vb = MemoryMarshal.Cast<float, Vector<float>>(b);
            var vd = MemoryMarshal.Cast<float, Vector<float>>(d);
            for (int k = 0; k < vd.Length && k < va.Length && k < vb.Length; k++) vd[k] = va[k] * wa + vb[k] * wb;
            i = Math.Min(vd.Length, Math.Min(va.Length, vb.Length)) * Vector<float>.Count;
        }
        for (; i < d.Length; i++) d[i] = a[i] * wa + b[i] * wb;
    }

    /// <summary>acc += src·w.</summary>
    public static void AddScaled(ReadOnlySpan<float> src, float w, Span<float> acc) => Blend(acc, 1, src, w, acc);

    /// <summary>v = v·scale + shift, in place.</summary>
    public static void Affine(Span<float> v, float scale, float shift)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vv = MemoryMarshal.Cast<float, Vector<float>>(v);
            for (int k = 0; k < vv.Length; k++) vv[k] = vv[k] * scale + new Vector<float>(shift);
            i = vv.Length * Vector<float>.Count;
        }
        for (; i < v.Length; i++) v[i] = v[i] * scale + shift;
    }

    /// <summary>d = a ⊙ b (element-wise product).</summary>
    public static void Multiply(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> d)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var va = MemoryMarshal.Cast<float, Vector<float>>(a);
            var vb = MemoryMarshal.Cast<float, Vector<float>>(b);
            var vd = MemoryMarshal.Cast<float, Vector<float>>(d);
            for (int k = 0; k < vd.Length && k < va.Length && k < vb.Length; k++) vd[k] = va[k] * vb[k];
            i = Math.Min(vd.Length, Math.Min(va.Length, vb.Length)) * Vector<float>.Count;
        }
        for (; i < d.Length; i++) d[i] = a[i] * b[i];
    }

    /// <summary>(min, max) of a span (NaN propagates as neither; callers check the values are finite elsewhere).</summary>
    public static (float Min, float Max) MinMax(ReadOnlySpan<float> v)
    {
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        int i = 0;
        if (Vector.IsHardwareAccelerated && v.Length >= Vector<float>.Count)
        {
            var vv = MemoryMarshal.Cast<float, Vector<float>>(v);
            var vmin = new Vector<float>(float.PositiveInfinity);
            var vmax = new Vector<float>(float.NegativeInfinity);
            foreach (var x in vv) { vmin = Vector.Min(vmin, x); vmax = Vector.Max(vmax, x); }
            for (int k = 0; k < Vector<float>.Count; k++) { min = Math.Min(min, vmin[k]); max = Math.Max(max, vmax[k]); }
            i = vv.Length * Vector<float>.Count;
        }
        for (; i < v.Length; i++) { min = Math.Min(min, v[i]); max = Math.Max(max, v[i]); }
        return (min, max);
    }
}

/// <summary>
/// Seeded standard-normal samples: the ziggurat method of Marsaglia &amp; Tsang (2000, 128 layers) over xoshiro256**
/// seeded by SplitMix64 (both fully specified, so a seed gives the same samples on every platform). Almost every
/// sample costs one 64-bit random number, a table lookup and a multiply; BBMP draws one per input value at every
/// step, where Box–Muller's log, sine and cosine cost as much as the model's forward pass on small models.
/// </summary>
internal sealed class GaussianSource
{
    private const double R = 3.442619855899; // start of the tail
    private static readonly (uint[] K, double[] W, double[] F) Tables = BuildTables();
    private ulong _s0, _s1, _s2, _s3;

    public GaussianSource(int seed) : this((ulong)(uint)seed)
    {
    }

    private GaussianSource(ulong x)
    {
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private ulong NextBits()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9, t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3; _s2 ^= t; _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    private double Uniform() => ((NextBits() >> 11) + 0.5) * (1.0 / (1UL << 53)); // in (0, 1)

    // Marsaglia & Tsang's table setup for 128 layers (k: acceptance bounds, w: scales, f: densities), m1 = 2^31.
    private static (uint[], double[], double[]) BuildTables()
    {
        const double M1 = 2147483648.0, V = 9.91256303526217e-3;
        var k = new uint[128];
        var w = new double[128];
        var f = new double[128];
        double dn = R, tn = dn, q = V / Math.Exp(-0.5 * dn * dn);
        k[0] = (uint)(dn / q * M1);
        k[1] = 0;
        w[0] = q / M1;
        w[127] = dn / M1;
        f[0] = 1;
        f[127] = Math.Exp(-0.5 * dn * dn);
        for (int i = 126; i >= 1; i--)
        {
            dn = Math.Sqrt(-2 * Math.Log(V / dn + Math.Exp(-0.5 * dn * dn)));
            k[i + 1] = (uint)(dn / tn * M1);
            tn = dn;
            f[i] = Math.Exp(-0.5 * dn * dn);
            w[i] = dn / M1;
        }
        return (k, w, f);
    }

    public double Next()
    {
        ulong bits = NextBits();
        int i = (int)(bits & 127);
        int hz = (int)(bits >> 32);
        return (uint)Math.Abs((long)hz) < Tables.K[i] ? hz * Tables.W[i] : Slow(i, hz);
    }

    // A draw outside layer i's rectangle (about 1 %): the tail (layer 0) or the wedge test, drawing afresh until accepted.
    private double Slow(int i, int hz)
    {
        var (k, w, f) = Tables;
        while (true)
        {
            double x = hz * w[i];
            if ((uint)Math.Abs((long)hz) < k[i]) return x; // inside the layer's rectangle
            if (i == 0)
            {
                // The tail beyond R (Marsaglia 1964).
                double tx, ty;
                do { tx = -Math.Log(Uniform()) / R; ty = -Math.Log(Uniform()); } while (ty + ty < tx * tx);
                return hz > 0 ? R + tx : -R - tx;
            }
            if (f[i] + Uniform() * (f[i - 1] - f[i]) < Math.Exp(-0.5 * x * x)) return x; // under the curve in the wedge
            ulong bits = NextBits();
            i = (int)(bits & 127);
            hz = (int)(bits >> 32);
        }
    }

    /// <summary>Fills <paramref name="destination"/> with samples scaled by <paramref name="sigma"/>.</summary>
    /// <remarks>
    /// The same samples as <see cref="Next"/> in a loop, with the common case inlined and the generator state in
    /// locals (registers) rather than fields.
    /// </remarks>
    public void Fill(float[] destination, double sigma)
    {
        // Large fills (BBMP's noise image at every step) are split over two cores: the second half comes from a child
        // generator seeded by the next draw of this one, so the result depends only on the seed and the length.
        if (destination.Length < ParallelFill || Environment.ProcessorCount < 2) { FillSerial(destination, sigma); return; }
        var child = new GaussianSource(NextBits());
        int half = destination.Length / 2;
        Parallel.Invoke(() => FillSerial(destination.AsSpan(0, half), sigma), () => child.FillSerial(destination.AsSpan(half), sigma));
    }

    /// <summary>Fills at or above this length are split over two cores.</summary>
    internal const int ParallelFill = 65536;

    /// <summary>Like <see cref="Fill(float[], double)"/> on one thread: the same samples as <see cref="Next"/> in a loop.</summary>
    public void FillSerial(Span<float> destination, double sigma)
    {
        var (k, w, _) = Tables;
        ulong s0 = _s0, s1 = _s1, s2 = _s2, s3 = _s3;
        for (int j = 0; j < destination.Length; j++)
        {
            ulong bits = ulong.RotateLeft(s1 * 5, 7) * 9, t = s1 << 17;
            s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = ulong.RotateLeft(s3, 45);
            int i = (int)(bits & 127);
            int hz = (int)(bits >> 32);
            if ((uint)Math.Abs((long)hz) < k[i])
            {
                destination[j] = (float)(sigma * (hz * w[i]));
                continue;
            }
            _s0 = s0; _s1 = s1; _s2 = s2; _s3 = s3;
            destination[j] = (float)(sigma * Slow(i, hz));
            s0 = _s0; s1 = _s1; s2 = _s2; s3 = _s3;
        }
        _s0 = s0; _s1 = s1; _s2 = s2; _s3 = s3;
    }
}
