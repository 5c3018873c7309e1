using VacCnn.Contracts;

namespace VacCnn.Metrics.Standard;

/// <summary>Argument checks shared by the metrics.</summary>
internal static class MapChecks
{
    /// <summary>Throws <see cref="ArgumentException"/> unless both maps exist, are well-formed and have the same size.</summary>
    public static void SameSize(SaliencyMap a, SaliencyMap b, string metricId)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        WellFormed(a, nameof(a));
        WellFormed(b, nameof(b));
        if (a.Width != b.Width || a.Height != b.Height)
            throw new ArgumentException(
                $"{metricId}: maps must have the same size, got {a.Width}×{a.Height} and {b.Width}×{b.Height} " +
                "(resize one map, or compare both at crop resolution)", nameof(b));
    }

    private static void WellFormed(SaliencyMap m, string name)
    {
        if (m.Width < 1 || m.Height < 1)
            throw new ArgumentException($"map size must be positive, got {m.Width}×{m.Height}", name);
        if (m.Values is null || m.Values.Length != (long)m.Width * m.Height)
            throw new ArgumentException(
                $"map holds {m.Values?.Length ?? 0} values but {m.Width}×{m.Height} = {(long)m.Width * m.Height} are needed", name);
    }

    /// <summary>Clamps to [0, 1]; maps are promised in [0, 1], this only absorbs rounding and slightly-off inputs.</summary>
    public static double Unit(double v) => double.IsNaN(v) ? 0 : Math.Clamp(v, 0.0, 1.0);
}
