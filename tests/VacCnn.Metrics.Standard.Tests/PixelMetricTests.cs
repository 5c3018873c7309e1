namespace VacCnn.Metrics.Standard.Tests;

public class PixelMetricTests
{
    // a = [0, 1; 0.5, 0.25], b = [0, 0; 1, 0.25]: differences 0, 1, −0.5, 0.
    private static readonly float[] A = [0f, 1f, 0.5f, 0.25f], B = [0f, 0f, 1f, 0.25f];

    [Fact]
    public void Mse_by_hand_on_2x2()
    {
        // squares 0 + 1 + 0.25 + 0 = 1.25, mean 0.3125 → 1 − 0.3125.
        Assert.Equal(0.6875, new MseMetric().Similarity(Maps.Of(2, 2, A), Maps.Of(2, 2, B)), 12);
    }

    [Fact]
    public void L1_by_hand_on_2x2()
    {
        // |d| = 0 + 1 + 0.5 + 0 = 1.5, mean 0.375 → 1 − 0.375.
        Assert.Equal(0.625, new L1Metric().Similarity(Maps.Of(2, 2, A), Maps.Of(2, 2, B)), 12);
    }

    [Fact]
    public void Opposite_extremes_score_zero()
    {
        var zeros = Maps.Of(3, 2, new float[6]);
        var ones = Maps.Of(3, 2, Enumerable.Repeat(1f, 6).ToArray());
        Assert.Equal(0.0, new MseMetric().Similarity(zeros, ones), 12);
        Assert.Equal(0.0, new L1Metric().Similarity(zeros, ones), 12);
    }
}
