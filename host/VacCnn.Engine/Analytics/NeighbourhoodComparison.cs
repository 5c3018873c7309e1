namespace VacCnn.Engine.Analytics;

/// <summary>How one class's neighbourhood differs between two models.</summary>
/// <param name="Index">The class.</param>
/// <param name="Jaccard">|shared| / |union| of the two k-nearest-class sets: 1 = same neighbours, 0 = none in common.</param>
/// <param name="OnlyA">Neighbours in model A's matrix only, nearest first.</param>
/// <param name="OnlyB">Neighbours in model B's matrix only, nearest first.</param>
/// <param name="Shared">Neighbours in both, in A's order.</param>
/// <param name="Moved">Distance between the class's two points in the aligned layouts, in units of A's RMS spread.</param>
public sealed record NeighbourhoodChange(int Index, double Jaccard, int[] OnlyA, int[] OnlyB, int[] Shared, double Moved);

/// <summary>
/// Compares two models' class neighbourhoods: for every class both graphs contain, its k nearest classes by
/// Algorithm 1's distance in each model (the neighbours stored with the graph, not the 2-D layout, so the answer does
/// not depend on the t-SNE's randomness), and the Jaccard index of the two sets. Classes whose neighbourhoods differ
/// most are where the models "see" a class differently — a way to find interesting classes that accuracy alone misses.
/// </summary>
public static class NeighbourhoodComparison
{
    /// <summary>The rule, in words, for the UI and the JSON.</summary>
    public const string Rule = "For each class in both graphs: its k nearest classes by Algorithm 1's distance in each model " +
        "(classes missing from either graph left out); Jaccard = shared / union. Listed from the lowest Jaccard (most " +
        "different neighbourhood), ties by the larger move between the aligned layouts, then by class index.";

    /// <summary>Every class of both results, most different first. <paramref name="k"/> is capped by what was stored.</summary>
    public static IReadOnlyList<NeighbourhoodChange> Compare(ClassAnalytics a, ClassAnalytics b, int k)
    {
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), "k must be at least 1");
        var inB = new HashSet<int>(b.Classes);
        var common = a.Classes.Where(inB.Contains).ToHashSet();
        double spread = Spread(a, common);
        var changes = new List<NeighbourhoodChange>(common.Count);
        foreach (int c in a.Classes)
        {
            if (!common.Contains(c)) continue;
            int pa = a.PositionOf(c), pb = b.PositionOf(c);
            int[] na = Nearest(a.Neighbours[pa], common, k), nb = Nearest(b.Neighbours[pb], common, k);
            var setB = nb.ToHashSet();
            var setA = na.ToHashSet();
            int[] shared = na.Where(setB.Contains).ToArray();
            int union = na.Length + nb.Length - shared.Length;
            double moved = Math.Sqrt(Sq(a.X[pa] - b.X[pb]) + Sq(a.Y[pa] - b.Y[pb])) / spread;
            changes.Add(new NeighbourhoodChange(c, union == 0 ? 1 : (double)shared.Length / union,
                na.Where(n => !setB.Contains(n)).ToArray(), nb.Where(n => !setA.Contains(n)).ToArray(), shared, moved));
        }
        return changes.OrderBy(ch => ch.Jaccard).ThenByDescending(ch => ch.Moved).ThenBy(ch => ch.Index).ToList();
    }

    private static int[] Nearest(int[] neighbours, HashSet<int> common, int k) => neighbours.Where(common.Contains).Take(k).ToArray();

    private static double Sq(double v) => v * v;

    // Root-mean-square distance of A's common points from their centroid: the "size" of the picture, so Moved reads
    // the same whatever t-SNE's scale (1 for a degenerate layout, to avoid dividing by zero).
    private static double Spread(ClassAnalytics a, HashSet<int> common)
    {
        double sx = 0, sy = 0; int n = 0;
        for (int p = 0; p < a.Classes.Length; p++)
            if (common.Contains(a.Classes[p])) { sx += a.X[p]; sy += a.Y[p]; n++; }
        if (n == 0) return 1;
        double mx = sx / n, my = sy / n, ss = 0;
        for (int p = 0; p < a.Classes.Length; p++)
            if (common.Contains(a.Classes[p])) ss += Sq(a.X[p] - mx) + Sq(a.Y[p] - my);
        double rms = Math.Sqrt(ss / n);
        return rms > 0 ? rms : 1;
    }
}
