using VacCnn.Explainers.Shared;

namespace VacCnn.Explainers.Tests;

/// <summary>The explainers' shared numeric helpers against naive loops and known identities.</summary>
public sealed class SharedHelperTests
{
    private static float[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }

    [Theory]
    [InlineData(7, 7, 224, 224)]
    [InlineData(4, 6, 129, 131)]
    [InlineData(1, 1, 5, 3)]
    public void Resize_equals_the_naive_bilinear_formula(int h, int w, int outH, int outW)
    {
        var map = Random(h * w, 1);
        var expected = Reference.Upsample(map, h, w, outH, outW);
        var actual = new Bilinear(h, w, outH, outW, alignCorners: false).Resize(map);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-5);

        // Corners aligned (UpsamplingBilinear2d): source coordinate o·(in − 1)/(out − 1).
        var aligned = new Bilinear(h, w, outH, outW, alignCorners: true).Resize(map);
        for (int oy = 0; oy < outH; oy++)
            for (int ox = 0; ox < outW; ox++)
            {
                double sy = outH > 1 ? oy * (h - 1.0) / (outH - 1) : 0, sx = outW > 1 ? ox * (w - 1.0) / (outW - 1) : 0;
                int y0 = (int)sy, x0 = (int)sx, y1 = Math.Min(y0 + 1, h - 1), x1 = Math.Min(x0 + 1, w - 1);
                double fy = sy - y0, fx = sx - x0;
                double v = map[y0 * w + x0] * (1 - fy) * (1 - fx) + map[y0 * w + x1] * (1 - fy) * fx + map[y1 * w + x0] * fy * (1 - fx) + map[y1 * w + x1] * fy * fx;
                Assert.Equal(v, aligned[oy * outW + ox], 1e-5);
            }
    }

    [Theory]
    [InlineData(28, 28, 224, 224, true)]
    [InlineData(5, 3, 17, 40, false)]
    public void Adjoint_is_the_transpose_of_resize(int h, int w, int outH, int outW, bool alignCorners)
    {
        // ⟨R u, v⟩ = ⟨u, Rᵀ v⟩ for random u, v.
        var r = new Bilinear(h, w, outH, outW, alignCorners);
        var u = Random(h * w, 2);
        var v = Random(outH * outW, 3);
        var ru = r.Resize(u);
        var rtv = r.Adjoint(v);
        double left = ru.Select((x, i) => (double)x * v[i]).Sum(), right = u.Select((x, i) => (double)x * rtv[i]).Sum();
        Assert.Equal(left, right, 1e-3 * Math.Max(1, Math.Abs(left)));
    }

    [Fact]
    public void Vector_helpers_equal_scalar_loops_on_lengths_that_are_not_a_multiple_of_the_vector_width()
    {
        foreach (int n in new[] { 1, 7, 8, 33, 1001 })
        {
            var a = Random(n, n);
            var b = Random(n, n + 1);
            var d = new float[n];
            Vectors.Blend(a, 0.25f, b, -2f, d);
            for (int i = 0; i < n; i++) Assert.Equal(a[i] * 0.25f + b[i] * -2f, d[i], 1e-6f);
            Vectors.Multiply(a, b, d);
            for (int i = 0; i < n; i++) Assert.Equal(a[i] * b[i], d[i], 1e-6f);
            var c = (float[])a.Clone();
            Vectors.Affine(c, 3f, 0.5f);
            for (int i = 0; i < n; i++) Assert.Equal(a[i] * 3f + 0.5f, c[i], 1e-6f);
            Assert.Equal((a.Min(), a.Max()), Vectors.MinMax(a));
        }
    }

    [Fact]
    public void Gaussian_source_has_standard_normal_moments_and_is_seeded()
    {
        var g = new GaussianSource(4);
        var x = new float[400_000];
        g.Fill(x, 1);
        double mean = x.Average(v => (double)v), variance = x.Average(v => (v - mean) * (v - mean));
        double kurtosis = x.Average(v => Math.Pow(v - mean, 4)) / (variance * variance);
        // Standard errors at n = 400,000: mean 0.0016, variance 0.0022, kurtosis 0.008.
        Assert.InRange(mean, -0.008, 0.008);
        Assert.InRange(variance, 0.99, 1.01);
        Assert.InRange(kurtosis, 2.96, 3.04);
        Assert.InRange(x.Count(v => Math.Abs(v) > 1.96) / (double)x.Length, 0.048, 0.052);
        // Beyond the ziggurat's base layer (|x| > 3.5, probability 4.65e-4: 186 ± 14 expected) and in a wedge band.
        Assert.InRange(x.Count(v => Math.Abs(v) > 3.5), 140, 235);
        Assert.InRange(x.Count(v => v > 1 && v < 1.1) / (double)x.Length, 0.0230 - 0.0008, 0.0230 + 0.0008);
        // A fill this large is split over two generators; it is still a function of the seed alone.
        var again = new float[x.Length];
        new GaussianSource(4).Fill(again, 1);
        Assert.Equal(x, again);
        // The serial fill (inlined fast path) and Next give the same sequence, rare slow-path draws included.
        var small = new float[5000];
        new GaussianSource(4).FillSerial(small, 1);
        var one = new GaussianSource(4);
        for (int i = 0; i < small.Length; i++) Assert.Equal(small[i], (float)one.Next());
    }
}
