namespace VacCnn.Engine.Analytics;

/// <summary>
/// A symmetric sparse P in compressed rows: row i holds the j with p_ij &gt; 0 (its neighbours and the points that
/// have it as a neighbour). Σ p_ij = 1 over all entries.
/// </summary>
/// <param name="N">Points.</param>
/// <param name="RowStart">[N + 1]: row i is entries RowStart[i] .. RowStart[i + 1] − 1.</param>
/// <param name="Column">Column of each entry.</param>
/// <param name="Value">p_ij of each entry.</param>
public sealed record SparseAffinities(int N, int[] RowStart, int[] Column, float[] Value);

/// <summary>
/// The input similarities of t-SNE: conditional p(j|i) ∝ exp(−d_ij·β_i) with β_i found by bisection so that the row's
/// perplexity matches (as scikit-learn's _binary_search_perplexity: natural-log entropy, tolerance 1e-5), then the
/// symmetric joint P = (P_cond + P_condᵀ) / Σ. d is the given distance, squared when the options say so (scikit-learn
/// squares metric="precomputed" distances for both methods).
/// </summary>
public static class TsneAffinities
{
    /// <summary>Fits one row: <paramref name="p"/> gets p(j|i) for the distances <paramref name="d"/> (self excluded by the caller).</summary>
    internal static void FitRow(ReadOnlySpan<double> d, Span<double> p, double perplexity)
    {
        if (d.Length == 0) return;
        double target = Math.Log(perplexity);
        // Shift by the row minimum: the normalised probabilities are unchanged and exp() cannot underflow to all zeros.
        double min = double.PositiveInfinity;
        foreach (double v in d) min = Math.Min(min, v);
        double beta = 1, lo = double.NegativeInfinity, hi = double.PositiveInfinity;
        for (int step = 0; step < 200; step++)
        {
            double sum = 0, weighted = 0;
            for (int j = 0; j < d.Length; j++)
            {
                double shifted = d[j] - min;
                double v = Math.Exp(-shifted * beta);
                p[j] = v; sum += v; weighted += shifted * v;
            }
            double entropy = Math.Log(sum) + beta * weighted / sum;
            for (int j = 0; j < d.Length; j++) p[j] /= sum;
            double diff = entropy - target;
            if (Math.Abs(diff) <= 1e-5) break;
            if (diff > 0) { lo = beta; beta = double.IsPositiveInfinity(hi) ? beta * 2 : (beta + hi) / 2; }
            else { hi = beta; beta = double.IsNegativeInfinity(lo) ? beta / 2 : (beta + lo) / 2; }
        }
    }

    /// <summary>Conditional probabilities p(j|i) over all pairs ([n, n], rows sum to 1, p(i|i) = 0).</summary>
    internal static double[] Conditional(float[] distances, int n, double perplexity, bool square)
    {
        var result = new double[(long)n * n];
        Parallel.For(0, n, () => (new double[Math.Max(0, n - 1)], new double[Math.Max(0, n - 1)]), (i, _, buffers) =>
        {
            var (d, p) = buffers;
            for (int j = 0, k = 0; j < n; j++)
                if (j != i) { double v = distances[(long)i * n + j]; d[k++] = square ? v * v : v; }
            FitRow(d, p, perplexity);
            var row = result.AsSpan(i * n, n);
            for (int j = 0, k = 0; j < n; j++) row[j] = j == i ? 0 : p[k++];
            return buffers;
        }, _ => { });
        return result;
    }

    /// <summary>Dense symmetric joint P ([n, n], sums to 1), floored at 1e-12 off the diagonal, as float.</summary>
    public static float[] Dense(float[] distances, int n, double perplexity, bool square)
    {
        var cond = Conditional(distances, n, perplexity, square);
        double total = 0;
        for (long i = 0; i < cond.LongLength; i++) total += cond[i];
        total *= 2; // Σ (P_cond + P_condᵀ)
        var p = new float[(long)n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (i != j) p[(long)i * n + j] = (float)Math.Max((cond[(long)i * n + j] + cond[(long)j * n + i]) / total, 1e-12);
        return p;
    }

    /// <summary>
    /// Sparse symmetric joint P from each point's nearest neighbours: p(j|i) over the row's neighbours only, then
    /// (P + Pᵀ) / Σ, as scikit-learn's _joint_probabilities_nn. Memory O(n·k).
    /// </summary>
    public static SparseAffinities Sparse(NeighbourGraph graph, double perplexity, bool square)
    {
        int n = graph.N, k = graph.K;
        var cond = new float[(long)n * k];
        Parallel.For(0, n, () => (new double[k], new double[k]), (i, _, buffers) =>
        {
            var (d, p) = buffers;
            var dist = graph.Distance.AsSpan(i * k, k);
            for (int j = 0; j < k; j++) d[j] = square ? (double)dist[j] * dist[j] : dist[j];
            FitRow(d, p, perplexity);
            for (int j = 0; j < k; j++) cond[(long)i * k + j] = (float)p[j];
            return buffers;
        }, _ => { });

        // Symmetrise: entry (i, j) = cond(i→j) + cond(j→i), each row's columns sorted (deterministic sums).
        var counts = new int[n + 1];
        for (int i = 0; i < n; i++)
            foreach (int j in graph.Of(i)) { counts[i]++; counts[j]++; }
        var start = new int[n + 1];
        for (int i = 0; i < n; i++) start[i + 1] = start[i] + counts[i];
        var fill = (int[])start.Clone();
        var col = new int[start[n]];
        var val = new double[start[n]];
        for (int i = 0; i < n; i++)
        {
            var nb = graph.Of(i);
            for (int a = 0; a < k; a++)
            {
                int j = nb[a];
                double c = cond[(long)i * k + a];
                col[fill[i]] = j; val[fill[i]++] = c;
                col[fill[j]] = i; val[fill[j]++] = c;
            }
        }
        // Merge duplicates (i and j neighbours of each other) row by row.
        var rowStart = new int[n + 1];
        var outCol = new List<int>(start[n]);
        var outVal = new List<double>(start[n]);
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            int s = start[i], e = start[i + 1];
            Array.Sort(col, val, s, e - s);
            for (int t = s; t < e; t++)
            {
                if (outCol.Count > rowStart[i] && outCol[^1] == col[t]) outVal[^1] += val[t];
                else { outCol.Add(col[t]); outVal.Add(val[t]); }
                total += val[t];
            }
            rowStart[i + 1] = outCol.Count;
        }
        if (total <= 0) total = 1;
        return new SparseAffinities(n, rowStart, outCol.ToArray(), outVal.Select(v => (float)(v / total)).ToArray());
    }
}
