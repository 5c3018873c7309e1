using VacCnn.Contracts;

namespace VacCnn.Metrics.Standard;

/// <summary>
/// Structural similarity (Wang, Bovik, Sheikh &amp; Simoncelli, "Image quality assessment: from error visibility to
/// structural similarity", IEEE TIP 13(4), 2004): compares local means (where the maps are bright), local contrasts
/// and local correlation (whether they rise and fall together) in a Gaussian window, then averages over the map.
/// </summary>
/// <remarks>
/// Matches <c>skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
/// use_sample_covariance=False, data_range=1)</c>: an 11 × 11 Gaussian window (σ = 1.5, truncated at 3.5 σ),
/// K1 = 0.01, K2 = 0.03, L = 1, local statistics by separable filtering with mirror ("reflect") borders, and the mean
/// over positions at least 5 pixels from every border (where the window lies wholly inside the map, so the border
/// rule does not change the result). Maps smaller than 11 pixels in either direction have no such position;
/// for them the mean is taken over every position (scikit-image refuses them).
/// SSIM lies in [−1, 1]; the similarity is <c>max(0, SSIM)</c>: it equals SSIM whenever the maps agree at all, so
/// numbers compare directly with the literature, and anti-correlated maps (negative SSIM) score 0.
/// </remarks>
public sealed class SsimMetric : ISimilarityMetric
{
    /// <summary>Standard deviation of the Gaussian window, in pixels.</summary>
    public const double Sigma = 1.5;
    /// <summary>Window radius: <c>int(3.5 σ + 0.5)</c> = 5, i.e. an 11 × 11 window (scikit-image's truncation).</summary>
    public const int Radius = 5;
    /// <summary>Stabiliser for the luminance term, C1 = (K1 L)².</summary>
    public const double K1 = 0.01;
    /// <summary>Stabiliser for the contrast/structure term, C2 = (K2 L)².</summary>
    public const double K2 = 0.03;
    /// <summary>Dynamic range L of saliency values.</summary>
    public const double DataRange = 1.0;

    private static readonly double[] Window = GaussianWindow();

    /// <inheritdoc />
    public string Id => "ssim";

    /// <inheritdoc />
    public string DisplayName => "SSIM (structural similarity)";

    /// <inheritdoc />
    public string Description =>
        "Compares local brightness, contrast and structure of the two maps in small 11×11 Gaussian windows and averages them (SSIM of Wang et al., 2004); SSIM lies in [−1, 1] and the score is max(0, SSIM), so 1 = identical and anti-correlated maps score 0.";

    /// <inheritdoc />
    public double Similarity(SaliencyMap a, SaliencyMap b) => MapChecks.Unit(Math.Max(0, Ssim(a, b)));

    /// <summary>The raw mean SSIM in [−1, 1] (before mapping to [0, 1]).</summary>
    public static double Ssim(SaliencyMap a, SaliencyMap b)
    {
        MapChecks.SameSize(a, b, "ssim");
        int w = a.Width, h = a.Height, n = w * h;
        var x = new double[n]; var y = new double[n];
        var xx = new double[n]; var yy = new double[n]; var xy = new double[n];
        for (int i = 0; i < n; i++)
        {
            double p = a.Values[i], q = b.Values[i];
            x[i] = p; y[i] = q; xx[i] = p * p; yy[i] = q * q; xy[i] = p * q;
        }
        var scratch = new double[n];
        foreach (var plane in new[] { x, y, xx, yy, xy }) Filter(plane, scratch, w, h);

        double c1 = (K1 * DataRange) * (K1 * DataRange), c2 = (K2 * DataRange) * (K2 * DataRange);
        // Positions whose whole window is inside the map (scikit-image crops `pad` = radius pixels per side).
        bool crop = w > 2 * Radius && h > 2 * Radius;
        int x0 = crop ? Radius : 0, x1 = crop ? w - Radius : w, y0 = crop ? Radius : 0, y1 = crop ? h - Radius : h;
        double sum = 0;
        for (int r = y0; r < y1; r++)
            for (int c = x0; c < x1; c++)
            {
                int i = r * w + c;
                double ux = x[i], uy = y[i];
                // Population (not sample) covariances: use_sample_covariance=False.
                double vx = xx[i] - ux * ux, vy = yy[i] - uy * uy, vxy = xy[i] - ux * uy;
                sum += (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
            }
        return sum / ((long)(x1 - x0) * (y1 - y0));
    }

    private static double[] GaussianWindow()
    {
        var k = new double[2 * Radius + 1];
        double total = 0;
        for (int i = -Radius; i <= Radius; i++) total += k[i + Radius] = Math.Exp(-0.5 * i * i / (Sigma * Sigma));
        for (int i = 0; i < k.Length; i++) k[i] /= total;
        return k;
    }

    /// <summary>In-place separable Gaussian filter with scipy.ndimage's "reflect" border (d c b a | a b c d | d c b a).</summary>
    private static void Filter(double[] plane, double[] scratch, int w, int h)
    {
        for (int r = 0; r < h; r++)
            for (int c = 0; c < w; c++)
            {
                double s = 0;
                for (int k = -Radius; k <= Radius; k++) s += Window[k + Radius] * plane[r * w + Reflect(c + k, w)];
                scratch[r * w + c] = s;
            }
        for (int r = 0; r < h; r++)
            for (int c = 0; c < w; c++)
            {
                double s = 0;
                for (int k = -Radius; k <= Radius; k++) s += Window[k + Radius] * scratch[Reflect(r + k, h) * w + c];
                plane[r * w + c] = s;
            }
    }

    /// <summary>Mirror index with the edge sample repeated; periodic with period 2n so far-out indices work too.</summary>
    internal static int Reflect(int i, int n)
    {
        int period = 2 * n;
        int m = ((i % period) + period) % period;
        return m < n ? m : period - 1 - m;
    }
}
