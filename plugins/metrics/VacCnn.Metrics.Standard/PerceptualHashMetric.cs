using System.Numerics;
using VacCnn.Contracts;

namespace VacCnn.Metrics.Standard;

/// <summary>
/// Perceptual hash (pHash, as in the <c>imagehash.phash</c> Python package): shrink the map to 32 × 32, take the 2-D
/// DCT-II, keep the 8 × 8 lowest frequencies (DC included), and set one bit per coefficient that is above their median.
/// The 64 bits describe the coarse layout of the map, so small details, noise and overall brightness do not change
/// them. Similarity = 1 − (differing bits) / 64.
/// </summary>
/// <remarks>
/// Differences from imagehash: the map is shrunk by exact area averaging (imagehash uses PIL's Lanczos filter on an
/// 8-bit greyscale image) and values stay floating point, so hashes of the same picture can differ in a few bits.
/// Multiplying a map by a positive constant scales every coefficient and the median alike, so the hash is unchanged.
/// </remarks>
public sealed class PerceptualHashMetric : ISimilarityMetric
{
    /// <summary>Side of the shrunken map.</summary>
    public const int ResizeSide = 32;
    /// <summary>Side of the kept low-frequency block (8 × 8 = 64 bits).</summary>
    public const int HashSide = 8;

    private static readonly double[,] Cos = CosTable();

    /// <inheritdoc />
    public string Id => "phash";

    /// <inheritdoc />
    public string DisplayName => "Perceptual hash (pHash)";

    /// <inheritdoc />
    public string Description =>
        "Reduces each map to a 64-bit fingerprint of its coarse layout (32×32 shrink, DCT, low frequencies above their median) and scores 1 − differing bits / 64, so 1 = same layout and about 0.5 = unrelated.";

    /// <inheritdoc />
    public double Similarity(SaliencyMap a, SaliencyMap b)
    {
        MapChecks.SameSize(a, b, Id);
        return 1.0 - BitOperations.PopCount(Hash(a) ^ Hash(b)) / 64.0;
    }

    /// <summary>The 64-bit hash; bit 63 − (8u + v) is set when DCT coefficient (row u, column v) exceeds the median.</summary>
    public static ulong Hash(SaliencyMap map)
    {
        ArgumentNullException.ThrowIfNull(map);
        if (map.Width < 1 || map.Height < 1 || map.Values.Length != (long)map.Width * map.Height)
            throw new ArgumentException($"malformed map: {map.Width}×{map.Height} with {map.Values.Length} values", nameof(map));
        var small = ResizeArea(map.Values, map.Width, map.Height, ResizeSide, ResizeSide);

        // Only the 8 × 8 lowest frequencies are needed, so evaluate DCT-II directly for those (unnormalised, like
        // scipy.fftpack.dct: a uniform scale does not change which coefficients exceed the median).
        var rows = new double[HashSide, ResizeSide]; // DCT along y for each column
        for (int u = 0; u < HashSide; u++)
            for (int x = 0; x < ResizeSide; x++)
            {
                double s = 0;
                for (int y = 0; y < ResizeSide; y++) s += Cos[u, y] * small[y * ResizeSide + x];
                rows[u, x] = s;
            }
        var coef = new double[HashSide * HashSide];
        for (int u = 0; u < HashSide; u++)
            for (int v = 0; v < HashSide; v++)
            {
                double s = 0;
                for (int x = 0; x < ResizeSide; x++) s += Cos[v, x] * rows[u, x];
                coef[u * HashSide + v] = s;
            }

        var sorted = (double[])coef.Clone();
        Array.Sort(sorted);
        double median = (sorted[31] + sorted[32]) / 2; // numpy.median of 64 values
        ulong hash = 0;
        for (int i = 0; i < 64; i++)
            if (coef[i] > median) hash |= 1UL << (63 - i);
        return hash;
    }

    /// <summary>
    /// Area-average resize: each output pixel is the mean of the input over its footprint, partial input pixels
    /// weighted by the covered fraction (works for shrinking and enlarging).
    /// </summary>
    internal static double[] ResizeArea(float[] src, int w, int h, int outW, int outH)
    {
        var wx = AreaWeights(w, outW); // [outW][w]
        var wy = AreaWeights(h, outH);
        var tmp = new double[h * outW];
        for (int r = 0; r < h; r++)
            for (int o = 0; o < outW; o++)
            {
                double s = 0;
                foreach (var (i, wt) in wx[o]) s += wt * src[r * w + i];
                tmp[r * outW + o] = s;
            }
        var dst = new double[outH * outW];
        for (int o = 0; o < outH; o++)
            for (int c = 0; c < outW; c++)
            {
                double s = 0;
                foreach (var (i, wt) in wy[o]) s += wt * tmp[i * outW + c];
                dst[o * outW + c] = s;
            }
        return dst;
    }

    private static (int Index, double Weight)[][] AreaWeights(int n, int outN)
    {
        var result = new (int, double)[outN][];
        double scale = (double)n / outN;
        for (int o = 0; o < outN; o++)
        {
            double lo = o * scale, hi = (o + 1) * scale;
            var list = new List<(int, double)>();
            for (int i = (int)Math.Floor(lo); i < Math.Min(n, (int)Math.Ceiling(hi)); i++)
            {
                double overlap = Math.Min(hi, i + 1) - Math.Max(lo, i);
                if (overlap > 0) list.Add((i, overlap / scale));
            }
            result[o] = [.. list];
        }
        return result;
    }

    private static double[,] CosTable()
    {
        var t = new double[HashSide, ResizeSide];
        for (int k = 0; k < HashSide; k++)
            for (int n = 0; n < ResizeSide; n++)
                t[k, n] = Math.Cos(Math.PI * k * (2 * n + 1) / (2.0 * ResizeSide));
        return t;
    }
}
