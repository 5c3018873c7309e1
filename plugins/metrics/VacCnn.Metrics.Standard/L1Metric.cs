using VacCnn.Contracts;

namespace VacCnn.Metrics.Standard;

/// <summary>
/// 1 − mean absolute difference (L1 distance per pixel). Every pixel's difference counts in proportion to its size,
/// so it is less dominated by a few large differences than <see cref="MseMetric"/>.
/// </summary>
public sealed class L1Metric : ISimilarityMetric
{
    /// <inheritdoc />
    public string Id => "l1";

    /// <inheritdoc />
    public string DisplayName => "1 − mean absolute difference";

    /// <inheritdoc />
    public string Description =>
        "One minus the average absolute difference between the two maps, pixel by pixel; since values lie in [0, 1] this is already in [0, 1] (1 = identical, 0 = one map all 0 where the other is all 1).";

    /// <inheritdoc />
    public double Similarity(SaliencyMap a, SaliencyMap b)
    {
        MapChecks.SameSize(a, b, Id);
        double sum = 0;
        var x = a.Values; var y = b.Values;
        for (int i = 0; i < x.Length; i++) sum += Math.Abs((double)x[i] - y[i]);
        return MapChecks.Unit(1 - sum / x.Length);
    }
}
