using VacCnn.Contracts;

namespace VacCnn.Metrics.Standard;

/// <summary>
/// 1 − mean squared error. Maps hold values in [0, 1], so each squared difference is in [0, 1] and so is the mean:
/// identical maps score 1, a map of all 0 against a map of all 1 scores 0. Large local differences weigh more than
/// many small ones.
/// </summary>
public sealed class MseMetric : ISimilarityMetric
{
    /// <inheritdoc />
    public string Id => "mse";

    /// <inheritdoc />
    public string DisplayName => "1 − MSE";

    /// <inheritdoc />
    public string Description =>
        "One minus the mean squared difference between the two maps, pixel by pixel; since values lie in [0, 1] this is already in [0, 1] (1 = identical, 0 = one map all 0 where the other is all 1).";

    /// <inheritdoc />
    public double Similarity(SaliencyMap a, SaliencyMap b)
    {
        MapChecks.SameSize(a, b, Id);
        double sum = 0;
        var x = a.Values; var y = b.Values;
        for (int i = 0; i < x.Length; i++)
        {
            double d = (double)x[i] - y[i];
            sum += d * d;
        }
        return MapChecks.Unit(1 - sum / x.Length);
    }
}
