namespace VacCnn.Metrics.Standard.Tests;

public class PerceptualHashTests
{
    [Fact]
    public void Halving_the_intensity_keeps_the_hash()
    {
        var p = new PerceptualHashMetric();
        for (int seed = 0; seed < 5; seed++)
        {
            var a = Maps.Smooth(50, 37, seed);
            Assert.Equal(PerceptualHashMetric.Hash(a), PerceptualHashMetric.Hash(Maps.Scale(a, 0.5f)));
            Assert.Equal(1.0, p.Similarity(a, Maps.Scale(a, 0.5f)));
        }
    }

    [Fact]
    public void Horizontal_flip_scores_lower()
    {
        var p = new PerceptualHashMetric();
        var a = Maps.Blob(64, 48, 16, 20, 7); // off-centre, so the flip moves it
        double flipped = p.Similarity(a, Maps.FlipHorizontal(a));
        Assert.True(flipped < 1.0, $"flip scored {flipped}");
        for (int seed = 0; seed < 3; seed++)
        {
            var s = Maps.Smooth(64, 48, seed);
            Assert.True(p.Similarity(s, Maps.FlipHorizontal(s)) < 1.0);
        }
    }

    [Fact]
    public void Area_resize_by_hand()
    {
        // 3 → 2 columns: output 0 covers [0, 1.5) = all of a plus half of b; output 1 covers half of b plus c.
        var r = PerceptualHashMetric.ResizeArea([0.3f, 0.6f, 0.9f], 3, 1, 2, 1);
        Assert.Equal((0.3 + 0.5 * 0.6) / 1.5, r[0], 6);
        Assert.Equal((0.5 * 0.6 + 0.9) / 1.5, r[1], 6);
        // 4 × 2 → 2 × 1: plain 2 × 2 block means.
        var q = PerceptualHashMetric.ResizeArea([0f, 1f, 0.5f, 0.5f, 1f, 1f, 0f, 0.25f], 4, 2, 2, 1);
        Assert.Equal((0 + 1 + 1 + 1) / 4.0, q[0], 6);
        Assert.Equal((0.5 + 0.5 + 0 + 0.25) / 4.0, q[1], 6);
        // 1 → 2 (enlarging): both outputs equal the single input.
        Assert.Equal(new[] { 0.7, 0.7 }, PerceptualHashMetric.ResizeArea([0.7f], 1, 1, 2, 1).Select(v => Math.Round(v, 6)));
    }

    [Fact]
    public void Opposite_corners_differ_in_many_bits()
    {
        // Blobs in opposite corners have opposite-signed odd-frequency coefficients: far apart in hash space.
        var a = Maps.Blob(64, 64, 12, 12, 6);
        var b = Maps.Blob(64, 64, 52, 52, 6);
        int differing = System.Numerics.BitOperations.PopCount(PerceptualHashMetric.Hash(a) ^ PerceptualHashMetric.Hash(b));
        Assert.InRange(differing, 16, 64);
    }
}
