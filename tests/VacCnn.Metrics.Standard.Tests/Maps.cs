using VacCnn.Contracts;

namespace VacCnn.Metrics.Standard.Tests;

/// <summary>Test maps.</summary>
internal static class Maps
{
    public static SaliencyMap Of(int w, int h, float[] v) => new(w, h, v, 0, 1f, null);

    public static SaliencyMap Of(int w, int h, Func<int, int, double> f)
    {
        var v = new float[w * h];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) v[y * w + x] = (float)f(x, y);
        return Of(w, h, v);
    }

    /// <summary>A Gaussian blob with peak 1 at (cx, cy).</summary>
    public static SaliencyMap Blob(int w, int h, double cx, double cy, double sigma) =>
        Of(w, h, (x, y) => Math.Exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (2 * sigma * sigma)));

    public static SaliencyMap Random(int w, int h, int seed)
    {
        var rng = new Random(seed);
        return Of(w, h, (_, _) => rng.NextDouble());
    }

    /// <summary>Smooth random map: a few random blobs plus a little noise, like a real saliency map.</summary>
    public static SaliencyMap Smooth(int w, int h, int seed)
    {
        var rng = new Random(seed);
        var blobs = Enumerable.Range(0, 4).Select(_ => (X: rng.NextDouble() * w, Y: rng.NextDouble() * h, S: 2 + rng.NextDouble() * w / 4, A: rng.NextDouble())).ToArray();
        return Of(w, h, (x, y) => Math.Clamp(0.05 * rng.NextDouble() + blobs.Sum(b => b.A * Math.Exp(-((x - b.X) * (x - b.X) + (y - b.Y) * (y - b.Y)) / (2 * b.S * b.S))), 0, 1));
    }

    public static SaliencyMap FlipHorizontal(SaliencyMap m) => Of(m.Width, m.Height, (x, y) => m.Values[y * m.Width + (m.Width - 1 - x)]);

    public static SaliencyMap Scale(SaliencyMap m, float k) => Of(m.Width, m.Height, m.Values.Select(v => v * k).ToArray());
}
