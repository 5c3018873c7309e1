using VacCnn.Contracts;

namespace VacCnn.Engine.Explanations;

/// <summary>
/// Pairwise similarity of L models' saliency maps for one image (Algorithm 2 of the VAC-CNN paper): entry [i, j] is
/// how alike model i's and model j's explanations are.
/// </summary>
public static class SimilarityMatrix
{
    /// <summary>
    /// The symmetric L × L matrix with 1 on the diagonal. Each unordered pair is computed once (metrics may be costly)
    /// and mirrored.
    /// </summary>
    /// <exception cref="ArgumentException">The maps differ in size.</exception>
    /// <exception cref="InvalidOperationException">The metric returned a value outside [0, 1].</exception>
    public static double[,] Compute(IReadOnlyList<SaliencyMap> maps, ISimilarityMetric metric)
    {
        ArgumentNullException.ThrowIfNull(maps);
        ArgumentNullException.ThrowIfNull(metric);
        int n = maps.Count;
        for (int i = 1; i < n; i++)
            if (maps[i].Width != maps[0].Width || maps[i].Height != maps[0].Height)
                throw new ArgumentException(
                    $"all maps must have the same size: map 0 is {maps[0].Width}×{maps[0].Height}, map {i} is {maps[i].Width}×{maps[i].Height}",
                    nameof(maps));
        var m = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            m[i, i] = 1; // a map is identical to itself by definition; no need to ask the metric
            for (int j = i + 1; j < n; j++)
            {
                double s = metric.Similarity(maps[i], maps[j]);
                // A plugin bug must not silently distort the comparison; tolerate only rounding noise.
                if (double.IsNaN(s) || s < -1e-9 || s > 1 + 1e-9)
                    throw new InvalidOperationException($"metric '{metric.Id}' returned {s} for maps {i} and {j}; similarities must be in [0, 1]");
                m[i, j] = m[j, i] = Math.Clamp(s, 0, 1);
            }
        }
        return m;
    }
}
