using System.Runtime.CompilerServices;

namespace VacCnn.Engine.Analytics;

/// <summary>
/// The class distance matrix of the paper's Algorithm 1 over the classes that have images.
/// </summary>
/// <param name="ClassCount">N, the number of classes of the model.</param>
/// <param name="Classes">The K classes that have images, ascending: row/column k of <see cref="Distances"/> is class Classes[k].</param>
/// <param name="Missing">Classes without any image: they get no row and are left out of the projection.</param>
/// <param name="Distances">[K, K] row-major, symmetric, zero diagonal, values in [0, 1].</param>
public sealed record ClassDistanceMatrix(int ClassCount, int[] Classes, int[] Missing, float[] Distances)
{
    /// <summary>Distance between the classes at rows <paramref name="a"/> and <paramref name="b"/>.</summary>
    public float this[int a, int b] => Distances[a * Classes.Length + b];
}

/// <summary>
/// Algorithm 1 of VAC-CNN (§4.2): for ground truth r and class j ≠ r, D[r, j] = mean over the images i of class r of
/// (1 − P[i, j]); D[r, r] = 0; then D = (D + Dᵀ) / 2. Two classes are close when the model gives each other's images
/// a high probability. Since mean(1 − P) = 1 − mean(P), D comes from the per-class probability sums of
/// <see cref="ClassSums"/> (one pass over P) in O(N²).
/// </summary>
public static class ClassDistance
{
    /// <summary>Algorithm 1 from already gathered sums.</summary>
    /// <remarks>AggressiveOptimization: it runs once per model, too rarely for the tiered JIT to optimise its loop in time.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static ClassDistanceMatrix FromSums(ClassSums sums)
    {
        int n = sums.ClassCount;
        var present = Enumerable.Range(0, n).Where(c => sums.ImagesPerClass[c] > 0).ToArray();
        var missing = Enumerable.Range(0, n).Where(c => sums.ImagesPerClass[c] == 0).ToArray();
        int k = present.Length;
        var inverse = present.Select(r => 1.0 / sums.ImagesPerClass[r]).ToArray();
        var s = sums.ConfidenceSums;
        var d = new float[(long)k * k];
        // Upper triangle only: D[a,b] = D[b,a] = ((1 − mean P[·, b] over a's images) + (1 − mean P[·, a] over b's images)) / 2.
        // In 64 × 64 tiles, so that the column reads s[b, a] and the mirrored writes d[b, a] stay in cache.
        const int Tile = 64;
        for (int a0 = 0; a0 < k; a0 += Tile)
        {
            for (int b0 = a0; b0 < k; b0 += Tile)
            {
                for (int a = a0; a < Math.Min(a0 + Tile, k); a++)
                {
                    long rowA = (long)present[a] * n;
                    for (int b = Math.Max(b0, a + 1); b < Math.Min(b0 + Tile, k); b++)
                    {
                        double ab = 1 - s[rowA + present[b]] * inverse[a];
                        double ba = 1 - s[(long)present[b] * n + present[a]] * inverse[b];
                        d[(long)a * k + b] = d[(long)b * k + a] = (float)((ab + ba) / 2);
                    }
                }
            }
        }
        return new ClassDistanceMatrix(n, present, missing, d);
    }

    /// <summary>Algorithm 1 over an in-memory matrix ([labels.Length, classCount] row-major).</summary>
    public static ClassDistanceMatrix Compute(float[] probabilities, int[] labels, int classCount) =>
        FromSums(ClassSums.FromMatrix(probabilities, labels, classCount));

    /// <summary>Algorithm 1 streamed from a stored confidence matrix (never loaded whole).</summary>
    public static ClassDistanceMatrix FromNpy(string confidencePath, int[] labels) =>
        FromSums(ClassSums.FromNpy(confidencePath, labels));
}
