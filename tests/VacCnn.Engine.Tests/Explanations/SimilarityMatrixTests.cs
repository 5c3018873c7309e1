using VacCnn.Contracts;
using VacCnn.Engine.Explanations;

namespace VacCnn.Engine.Tests.Explanations;

public class SimilarityMatrixTests
{
    /// <summary>1 − |mean(a) − mean(b)|, counting calls per pair.</summary>
    private sealed class CountingMetric : ISimilarityMetric
    {
        public readonly Dictionary<(int, int), int> Calls = [];
        public string Id => "counting";
        public string DisplayName => "counting";
        public string Description => "test";
        public double Similarity(SaliencyMap a, SaliencyMap b)
        {
            var key = (Math.Min(a.ClassIndex, b.ClassIndex), Math.Max(a.ClassIndex, b.ClassIndex));
            Calls[key] = Calls.GetValueOrDefault(key) + 1;
            return 1 - Math.Abs(a.Values.Average() - b.Values.Average());
        }
    }

    private static SaliencyMap Constant(int id, float v) => new(2, 2, [v, v, v, v], id, 1f, null);

    [Fact]
    public void Symmetric_with_unit_diagonal_and_each_pair_computed_once()
    {
        var maps = new[] { Constant(0, 0.1f), Constant(1, 0.5f), Constant(2, 0.9f), Constant(3, 0.5f) };
        var metric = new CountingMetric();
        var m = SimilarityMatrix.Compute(maps, metric);
        // Hand values: 1 − |0.1 − 0.5| = 0.6, 1 − |0.1 − 0.9| = 0.2, 1 − |0.5 − 0.9| = 0.6, identical means → 1.
        double[,] expected =
        {
            { 1, 0.6, 0.2, 0.6 },
            { 0.6, 1, 0.6, 1 },
            { 0.2, 0.6, 1, 0.6 },
            { 0.6, 1, 0.6, 1 },
        };
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) Assert.Equal(expected[i, j], m[i, j], 6);
        Assert.Equal(6, metric.Calls.Count); // 4·3/2 pairs
        Assert.All(metric.Calls.Values, c => Assert.Equal(1, c));
        Assert.DoesNotContain(metric.Calls.Keys, k => k.Item1 == k.Item2);
    }

    [Fact]
    public void Rejects_maps_of_different_sizes_and_out_of_range_metrics()
    {
        var e = Assert.Throws<ArgumentException>(() => SimilarityMatrix.Compute(
            [Constant(0, 0), new SaliencyMap(3, 1, [0, 0, 0], 1, 1, null)], new CountingMetric()));
        Assert.Contains("map 1 is 3×1", e.Message);
        Assert.Throws<InvalidOperationException>(() => SimilarityMatrix.Compute([Constant(0, 0), Constant(1, 0)], new BadMetric()));
        Assert.Equal(new double[0, 0], SimilarityMatrix.Compute([], new CountingMetric()));
    }

    private sealed class BadMetric : ISimilarityMetric
    {
        public string Id => "bad";
        public string DisplayName => "bad";
        public string Description => "bad";
        public double Similarity(SaliencyMap a, SaliencyMap b) => 1.5;
    }
}
