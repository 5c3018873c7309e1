using System.Numerics.Tensors;

namespace VacCnn.Engine.Analytics;

/// <summary>
/// The <see cref="K"/> nearest neighbours of each of <see cref="N"/> points, nearest first (ties: lower index first),
/// with their distances: [N, K] row-major. Memory is linear in N·K, so a t-SNE over it never needs the N × N matrix.
/// </summary>
public sealed class NeighbourGraph
{
    private NeighbourGraph(int n, int k, int[] index, float[] distance) { N = n; K = k; Index = index; Distance = distance; }

    /// <summary>Points.</summary>
    public int N { get; }
    /// <summary>Neighbours per point.</summary>
    public int K { get; }
    /// <summary>Neighbour indices, [N, K].</summary>
    public int[] Index { get; }
    /// <summary>Neighbour distances, [N, K], ascending per row.</summary>
    public float[] Distance { get; }

    /// <summary>The neighbours of point <paramref name="i"/>.</summary>
    public ReadOnlySpan<int> Of(int i) => Index.AsSpan(i * K, K);

    /// <summary>The first <paramref name="k"/> neighbours of each point (this graph when it has exactly k).</summary>
    public NeighbourGraph Take(int k)
    {
        k = Math.Clamp(k, 0, K);
        if (k == K) return this;
        var index = new int[(long)N * k];
        var distance = new float[(long)N * k];
        for (int i = 0; i < N; i++)
        {
            Index.AsSpan(i * K, k).CopyTo(index.AsSpan(i * k, k));
            Distance.AsSpan(i * K, k).CopyTo(distance.AsSpan(i * k, k));
        }
        return new NeighbourGraph(N, k, index, distance);
    }

    /// <summary>From a dense symmetric [n, n] distance matrix.</summary>
    public static NeighbourGraph FromDense(float[] distances, int n, int k)
    {
        if (distances.Length != (long)n * n) throw new ArgumentException($"distances must be [n, n]; got {distances.Length} values for n = {n}");
        return FromRows(n, k, (i, row) => distances.AsSpan(i * n, n).CopyTo(row));
    }

    /// <summary>
    /// From distances given one row at a time (<paramref name="fillRow"/>(i, row) writes the n distances from point i),
    /// rows in parallel: for matrices too large to hold, such as a 21,843-class one.
    /// </summary>
    public static NeighbourGraph FromRows(int n, int k, Action<int, Span<float>> fillRow)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        k = Math.Clamp(k, 0, Math.Max(0, n - 1));
        var index = new int[(long)n * k];
        var distance = new float[(long)n * k];
        using var rows = new ThreadLocal<float[]>(() => new float[n]);
        Parallel.For(0, n, i =>
        {
            var row = rows.Value!;
            fillRow(i, row);
            SelectNearest(row, i, index.AsSpan(i * k, k), distance.AsSpan(i * k, k));
        });
        foreach (float v in distance)
            if (!float.IsFinite(v) || v < 0) throw new ArgumentException("distances must be finite and non-negative");
        return new NeighbourGraph(n, k, index, distance);
    }

    /// <summary>The k smallest entries of <paramref name="row"/> other than <paramref name="self"/>, ascending, ties by index.</summary>
    internal static void SelectNearest(ReadOnlySpan<float> row, int self, Span<int> index, Span<float> distance)
    {
        int k = index.Length, count = 0;
        if (k == 0) return;
        for (int j = 0; j < row.Length; j++)
        {
            if (j == self) continue;
            float d = row[j];
            if (float.IsNaN(d)) d = float.PositiveInfinity; // reported by the finiteness check of the caller
            if (count == k && !(d < distance[k - 1])) continue; // equal distance: the earlier (lower) index stays
            // Insertion into the sorted prefix (k is small: 16 for perplexity 5).
            int pos = count < k ? count++ : k - 1;
            while (pos > 0 && distance[pos - 1] > d) { distance[pos] = distance[pos - 1]; index[pos] = index[pos - 1]; pos--; }
            distance[pos] = d; index[pos] = j;
        }
    }

    /// <summary>
    /// Neighbourhood preservation of an embedding: the mean share of each point's <paramref name="k"/> nearest
    /// neighbours here that are also among its k nearest in the 2-D layout (k-NN recall; 1 = every neighbourhood kept).
    /// Above <paramref name="maxPoints"/> points, a fixed evenly spaced sample of points is scored (exact for each).
    /// </summary>
    public double Recall(float[] x, float[] y, int k = 10, int maxPoints = 5000)
    {
        if (x.Length != N || y.Length != N) throw new ArgumentException("layout size does not match the graph");
        k = Math.Min(k, K);
        if (N < 2 || k == 0) return 1;
        int step = Math.Max(1, (N + maxPoints - 1) / maxPoints);
        var sample = Enumerable.Range(0, N).Where(i => i % step == 0).ToArray();
        var hits = new int[sample.Length];
        using var buffers = new ThreadLocal<(float[] Row, float[] Dy, int[] Idx, float[] Dist)>(() => (new float[N], new float[N], new int[k], new float[k]));
        Parallel.For(0, sample.Length, s =>
        {
            int i = sample[s];
            var (row, dy, idx, dist) = buffers.Value;
            TensorPrimitives.Subtract(x, x[i], row);
            TensorPrimitives.Multiply(row, row, row);
            TensorPrimitives.Subtract(y, y[i], dy);
            TensorPrimitives.MultiplyAdd(dy, dy, row, row);
            SelectNearest(row, i, idx, dist);
            var high = Of(i)[..k];
            int h = 0;
            foreach (int j in idx) if (high.Contains(j)) h++;
            hits[s] = h;
        });
        return hits.Sum() / (double)(sample.Length * k);
    }
}
