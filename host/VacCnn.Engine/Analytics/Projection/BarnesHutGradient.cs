using System.Runtime.CompilerServices;

namespace VacCnn.Engine.Analytics;

/// <summary>
/// The Barnes-Hut t-SNE gradient (van der Maaten 2014, as scikit-learn's _barnes_hut_tsne): attraction over the
/// entries of the sparse P, repulsion and Z = Σ w from a quadtree; dC/dy_i = 4 (Σ_j e·p_ij w_ij (y_i − y_j) −
/// (1/Z) Σ_j w_ij² (y_i − y_j)). The points are split over threads in tree order (neighbouring points walk similar
/// paths); each point's sums come from one thread and Z is summed in a fixed order, so threads never change a bit.
/// </summary>
internal sealed class BarnesHutGradient(SparseAffinities p, double angle, int? workers) : IDisposable
{
    private readonly BarnesHutTree _tree = new();
    private readonly double _theta2 = angle * angle;
    private readonly int _workers = workers ?? Math.Max(1, Math.Min(Environment.ProcessorCount, p.N / 256));
    private readonly double[] _repX = new double[p.N], _repY = new double[p.N], _z = new double[p.N];
    private readonly double[] _attX = new double[p.N], _attY = new double[p.N];
    private readonly double[] _repT = new double[p.N], _repTy = new double[p.N], _zT = new double[p.N]; // by tree position
    private readonly ThreadLocal<InteractionList> _lists = new(() => new InteractionList());
    private double _lastZ = double.NaN;

    public float[] GradX { get; } = new float[p.N];
    public float[] GradY { get; } = new float[p.N];

    // AggressiveOptimization on the hot paths here, in the tree and in Tsne's step: a graph is computed once per model
    // and process, so tiered compilation would run much of its 1000 iterations in unoptimised code (measured on a
    // synthetic 1000-point matrix: the first t-SNE of a process 0.55–0.8 s before, about 0.56 s after; warm 0.31 s).
    /// <summary>Writes the gradient at (x, y), P multiplied by <paramref name="exaggeration"/>, into <see cref="GradX"/>/<see cref="GradY"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Gradient(float[] x, float[] y, double exaggeration)
    {
        int n = p.N;
        _tree.Build(x, y);
        var order = _tree.Order;
        // One parallel region per iteration: each leaf's repulsion and its points' attraction (over P's entries) by the
        // same thread, instead of a second region for the attraction alone (no faster measurably, one hand-off fewer).
        Split(_tree.LeafCount, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (leaf) =>
        {
            _tree.Repulsion(leaf, _theta2, _lists.Value!, _repT, _repTy, _zT);
            var (first, count) = _tree.PositionsOf(leaf);
            for (int t = first; t < first + count; t++) Attraction(order[t], x, y);
        });
        for (int t = 0; t < n; t++) { int i = order[t]; _repX[i] = _repT[t]; _repY[i] = _repTy[t]; _z[i] = _zT[t]; }
        double zSum = 0;
        for (int i = 0; i < n; i++) zSum += _z[i]; // by point index: the same sum whatever the tree
        _lastZ = zSum;
        double invZ = 1 / zSum;
        for (int i = 0; i < n; i++)
        {
            GradX[i] = (float)(4 * (exaggeration * _attX[i] - _repX[i] * invZ));
            GradY[i] = (float)(4 * (exaggeration * _attY[i] - _repY[i] * invZ));
        }
    }

    // Σ_j p_ij w_ij (y_i − y_j) over row i of P (unexaggerated), by point index.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Attraction(int i, float[] x, float[] y)
    {
        double ax = 0, ay = 0, xi = x[i], yi = y[i];
        for (int e = p.RowStart[i], end = p.RowStart[i + 1]; e < end; e++)
        {
            int j = p.Column[e];
            double dx = xi - x[j], dy = yi - y[j];
            double pw = p.Value[e] / (1 + dx * dx + dy * dy);
            ax += pw * dx; ay += pw * dy;
        }
        _attX[i] = ax; _attY[i] = ay;
    }

    /// <summary>KL(P‖Q) with Z from the tree (computes a gradient pass first when none was made at this layout).</summary>
    public double Kl(float[] x, float[] y)
    {
        // Z of the last gradient pass belongs to the layout before its step; recompute it for this one.
        Gradient(x, y, 1);
        return KlGivenZ(x, y, _lastZ);
    }

    /// <summary>KL(P‖Q) with Z over all pairs (O(n²)).</summary>
    public double ExactKl(float[] x, float[] y) => KlGivenZ(x, y, Tsne.ExactZ(x, y, _workers));

    // KL = Σ p log p − Σ p log w + (Σ p) log Z over P's entries.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private double KlGivenZ(float[] x, float[] y, double z)
    {
        double pLogP = 0, pLogW = 0, pSum = 0;
        for (int i = 0; i < p.N; i++)
            for (int e = p.RowStart[i], end = p.RowStart[i + 1]; e < end; e++)
            {
                double v = p.Value[e];
                if (v <= 0) continue;
                int j = p.Column[e];
                double dx = x[i] - x[j], dy = y[i] - y[j];
                pLogP += v * Math.Log(v);
                pLogW -= v * Math.Log(1 + dx * dx + dy * dy);
                pSum += v;
            }
        return pLogP - pLogW + pSum * Math.Log(z);
    }

    public void Dispose() => _lists.Dispose();

    private void Split(int n, Action<int> body)
    {
        if (_workers == 1) { for (int i = 0; i < n; i++) body(i); return; }
        Parallel.For(0, _workers, new ParallelOptions { MaxDegreeOfParallelism = _workers }, w =>
        {
            for (int i = n * w / _workers, end = n * (w + 1) / _workers; i < end; i++) body(i);
        });
    }
}
