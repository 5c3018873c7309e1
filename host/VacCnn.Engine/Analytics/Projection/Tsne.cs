using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using MathNet.Numerics.Distributions;
using MathNet.Numerics.Random;

namespace VacCnn.Engine.Analytics;

/// <summary>A 2-D embedding.</summary>
/// <param name="X">First coordinate per point.</param>
/// <param name="Y">Second coordinate per point.</param>
/// <param name="Kl">Final KL(P‖Q) (without exaggeration), with Q over all pairs (exact up to 10,000 points; above, Z from the tree).</param>
/// <param name="Perplexity">The perplexity used (the requested one unless clamped for few points).</param>
/// <param name="KlHistory">(iteration, KL) every <see cref="TsneOptions.KlEvery"/> iterations, and at the end (Barnes-Hut: Z from the tree).</param>
/// <param name="Seconds">Wall-clock time.</param>
/// <param name="Recall">Neighbourhood preservation: k-NN recall at <see cref="RecallK"/> of the input's neighbours in the layout.</param>
/// <param name="RecallK">The k of <paramref name="Recall"/> (10, fewer for tiny inputs).</param>
/// <param name="Neighbours">The input's nearest neighbours that P and <paramref name="Recall"/> came from (at least <paramref name="RecallK"/> per point).</param>
public sealed record TsneResult(float[] X, float[] Y, double Kl, double Perplexity, IReadOnlyList<(int Iteration, double Kl)> KlHistory, double Seconds,
    double Recall, int RecallK, NeighbourGraph Neighbours);

/// <summary>
/// t-SNE (van der Maaten &amp; Hinton 2008) on precomputed distances, Barnes-Hut (van der Maaten 2014) or exact,
/// following scikit-learn 1.2's TSNE step for step (the paper's code):
/// <list type="bullet">
/// <item>P from <see cref="TsneAffinities"/>: sparse over 3·perplexity + 1 neighbours (Barnes-Hut) or dense (exact);</item>
/// <item>Student-t kernel w_ij = 1 / (1 + ‖y_i − y_j‖²), q_ij = w_ij / Σ w; gradient 4 Σ_j (p_ij − q_ij) w_ij (y_i − y_j),
/// the attraction over P's entries, the repulsion from a quadtree (<see cref="BarnesHutTree"/>) or over all pairs;</item>
/// <item>momentum with adaptive gains (+0.2 when the step changes sign, ×0.8 otherwise, at least MinGain), and, as
/// scikit-learn, momentum and gains start afresh when the exaggeration ends.</item>
/// </list>
/// Each point's forces are computed by one thread and global sums are added in a fixed order, so the result is
/// bit-identical for a seed whatever the number of cores (on one machine: SIMD width can change the last bits).
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1068:CancellationToken parameters must come last",
    Justification = "the optional start layout was added after the token; callers pass the token positionally")]
public static class Tsne
{
    /// <summary>Neighbours scored by <see cref="TsneResult.Recall"/>.</summary>
    public const int RecallK = 10;

    /// <summary>Above this many points the final KL takes Z from the tree instead of all pairs.</summary>
    private const int ExactKlLimit = 10_000;

    /// <summary>
    /// Embeds n points given their [n, n] symmetric distance matrix. <paramref name="initial"/> is the start layout
    /// (n points) that <see cref="TsneInit.Reference"/> needs; it is rescaled, so only its shape matters.
    /// </summary>
    public static TsneResult Run(float[] distances, int n, TsneOptions? options = null, Action<int, double>? progress = null,
        CancellationToken cancellationToken = default, (float[] X, float[] Y)? initial = null) =>
        Run(distances, n, options, progress, cancellationToken, workers: null, initial);

    /// <summary><see cref="Run(float[], int, TsneOptions?, Action{int, double}?, CancellationToken)"/> on a chosen number of threads.</summary>
    internal static TsneResult Run(float[] distances, int n, TsneOptions? options, Action<int, double>? progress,
        CancellationToken cancellationToken, int? workers, (float[] X, float[] Y)? initial = null)
    {
        var o = options ?? TsneOptions.Default;
        o.Validate();
        if (n < 0 || distances.Length != (long)n * n) throw new ArgumentException($"distances must be [n, n]; got {distances.Length} values for n = {n}");
        foreach (float v in distances)
            if (!float.IsFinite(v) || v < 0) throw new ArgumentException("distances must be finite and non-negative");
        var sw = Stopwatch.StartNew();
        double perplexity = EffectivePerplexity(o.Perplexity, n);
        var graph = NeighbourGraph.FromDense(distances, n, Math.Max(RecallK, TsneOptions.NeighboursFor(perplexity, n)));
        if (n < 2) return new TsneResult(new float[n], new float[n], 0, 0, [], sw.Elapsed.TotalSeconds, 1, 0, graph);
        var start = Start(n, o, initial);
        if (o.Method == TsneMethod.BarnesHut) return RunBarnesHut(graph, o, perplexity, progress, cancellationToken, workers, sw, start);

        var p = TsneAffinities.Dense(distances, n, perplexity, o.SquareDistances);
        double pLogP = 0, pSum = 0;
        foreach (float v in p) if (v > 0) { pLogP += v * Math.Log(v); pSum += v; }
        using var ws = new Workspace(n, workers);
        var (x, y, history) = Optimise(start, o, progress, cancellationToken,
            (x, y, e) => Gradient(p, x, y, n, e, ws), (x, y) => Kl(p, x, y, n, pLogP, pSum, ws), ws.GradX, ws.GradY);
        return Finish(x, y, history, perplexity, graph, sw);
    }

    /// <summary>Barnes-Hut t-SNE from each point's nearest neighbours only: memory O(n·k), never the n × n matrix.</summary>
    public static TsneResult Run(NeighbourGraph graph, TsneOptions? options = null, Action<int, double>? progress = null,
        CancellationToken cancellationToken = default, (float[] X, float[] Y)? initial = null)
    {
        var o = options ?? TsneOptions.Default;
        o.Validate();
        if (o.Method != TsneMethod.BarnesHut) throw new ArgumentException("the exact method needs the full distance matrix");
        var sw = Stopwatch.StartNew();
        int n = graph.N;
        if (n < 2) return new TsneResult(new float[n], new float[n], 0, 0, [], sw.Elapsed.TotalSeconds, 1, 0, graph);
        double perplexity = EffectivePerplexity(o.Perplexity, n);
        if (graph.K < TsneOptions.NeighboursFor(perplexity, n))
            throw new ArgumentException($"perplexity {perplexity} needs {TsneOptions.NeighboursFor(perplexity, n)} neighbours per point; the graph has {graph.K}");
        return RunBarnesHut(graph, o, perplexity, progress, cancellationToken, null, sw, Start(n, o, initial));
    }

    private static TsneResult RunBarnesHut(NeighbourGraph graph, TsneOptions o, double perplexity, Action<int, double>? progress,
        CancellationToken cancellationToken, int? workers, Stopwatch sw, (float[] X, float[] Y) start)
    {
        int n = graph.N;
        var p = TsneAffinities.Sparse(graph.Take(TsneOptions.NeighboursFor(perplexity, n)), perplexity, o.SquareDistances);
        using var bh = new BarnesHutGradient(p, o.Angle, workers);
        var (x, y, history) = Optimise(start, o, progress, cancellationToken, bh.Gradient, bh.Kl, bh.GradX, bh.GradY);
        if (n <= ExactKlLimit && history.Count > 0) history[^1] = (history[^1].Item1, bh.ExactKl(x, y));
        return Finish(x, y, history, perplexity, graph, sw);
    }

    private static TsneResult Finish(float[] x, float[] y, List<(int, double)> history, double perplexity, NeighbourGraph graph, Stopwatch sw)
    {
        // Centre the picture (t-SNE is translation invariant).
        int n = x.Length;
        float mx = TensorPrimitives.Sum<float>(x) / n, my = TensorPrimitives.Sum<float>(y) / n;
        TensorPrimitives.Subtract(x, mx, x);
        TensorPrimitives.Subtract(y, my, y);
        int k = Math.Min(RecallK, graph.K);
        double recall = graph.Recall(x, y, k);
        return new TsneResult(x, y, history[^1].Item2, perplexity, history, sw.Elapsed.TotalSeconds, recall, k, graph);
    }

    // Standard deviation (along x) of a given start layout. Not scikit-learn's 1e-4 for its PCA start: from a point
    // that small the exaggerated stage rebuilds the layout and two models end as unrelated as from random starts.
    // 10 is about the size 1000-class layouts end at with the paper's settings (RMS 8–10 on the shared models): the
    // optimiser refines the start instead, and ends at a lower KL than from a random start; at 20 and beyond the
    // classes stay put better but the layout no longer contracts in 1000 iterations and KL rises (README, t-SNE).
    private const double ReferenceStartSpread = 10;

    /// <summary>
    /// The start layout: N(0, 1e-4²) from the seed, or the given layout centred and scaled (one factor for both axes,
    /// so its shape is kept) to a standard deviation of <see cref="ReferenceStartSpread"/> along x.
    /// </summary>
    private static (float[] X, float[] Y) Start(int n, TsneOptions o, (float[] X, float[] Y)? initial)
    {
        var x = new float[n];
        var y = new float[n];
        if (o.Init == TsneInit.Random)
        {
            var normal = new Normal(0, 1e-4, new MersenneTwister(o.Seed));
            for (int i = 0; i < n; i++) { x[i] = (float)normal.Sample(); y[i] = (float)normal.Sample(); }
            return (x, y);
        }
        if (initial is not { } given) throw new ArgumentException("a reference initialisation needs the start layout");
        if (given.X.Length != n || given.Y.Length != n) throw new ArgumentException($"the start layout has {given.X.Length} points, expected {n}");
        double mx = given.X.Average(v => (double)v), my = given.Y.Average(v => (double)v);
        double sd = Math.Sqrt(given.X.Average(v => (v - mx) * (v - mx)));
        if (!(sd > 0) || !double.IsFinite(sd)) throw new ArgumentException("the start layout must be finite and not collapsed to a line");
        for (int i = 0; i < n; i++) { x[i] = (float)((given.X[i] - mx) / sd * ReferenceStartSpread); y[i] = (float)((given.Y[i] - my) / sd * ReferenceStartSpread); }
        return (x, y);
    }

    /// <summary>
    /// The optimiser shared by both methods: from the start layout, scikit-learn's two stages (exaggerated P
    /// with the initial momentum, then plain P with the final momentum), each starting with zero update and unit gains.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (float[] X, float[] Y, List<(int, double)> History) Optimise((float[] X, float[] Y) start, TsneOptions o, Action<int, double>? progress,
        CancellationToken cancellationToken, Action<float[], float[], double> gradient, Func<float[], float[], double> kl, float[] gradX, float[] gradY)
    {
        var (x, y) = start;
        int n = x.Length;
        var ux = new float[n]; var uy = new float[n];
        var gainX = new float[n]; var gainY = new float[n];
        var history = new List<(int, double)>();
        for (int it = 0; it < o.Iterations; it++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            bool exploring = it < o.ExaggerationIterations;
            if (it == 0 || it == o.ExaggerationIterations)
            {
                // A new stage: scikit-learn calls its gradient descent afresh, so nothing carries over from the exaggerated stage.
                Array.Clear(ux); Array.Clear(uy);
                Array.Fill(gainX, 1f); Array.Fill(gainY, 1f);
            }
            double exaggeration = exploring ? o.EarlyExaggeration : 1;
            float momentum = (float)(exploring ? o.InitialMomentum : o.FinalMomentum);
            gradient(x, y, exaggeration);
            Update(gradX, ux, gainX, momentum, (float)o.LearningRate, (float)o.MinGain);
            Update(gradY, uy, gainY, momentum, (float)o.LearningRate, (float)o.MinGain);
            Move(x, y, ux, uy, (float)o.MaxStepNorm);
            if ((it + 1) % o.KlEvery == 0 || it + 1 == o.Iterations)
            {
                double value = kl(x, y);
                history.Add((it + 1, value));
                progress?.Invoke(it + 1, value);
            }
        }
        return (x, y, history);
    }

    /// <summary>The perplexity actually used: at most (n − 1) / 3 (as bhtsne requires), at least 1.</summary>
    public static double EffectivePerplexity(double requested, int n) => Math.Max(1, Math.Min(requested, (n - 1) / 3.0));

    /// <summary>Per-thread scratch rows and the per-row partial sums of one iteration.</summary>
    internal sealed class Workspace(int n, int? workers = null) : IDisposable
    {
        public readonly float[] GradX = new float[n], GradY = new float[n];
        public readonly double[] RowZ = new double[n], RowKl = new double[n];
        public readonly float[] Ax = new float[n], Ay = new float[n], Rx = new float[n], Ry = new float[n];
        public readonly ThreadLocal<float[][]> Scratch = new(() => [new float[n], new float[n], new float[n], new float[n]]);
        public int Workers { get; } = workers ?? Math.Max(1, Math.Min(Environment.ProcessorCount, n / 32));
        public void Dispose() => Scratch.Dispose();
    }

    /// <summary>
    /// The exact KL gradient with P multiplied by <paramref name="exaggeration"/>, into <see cref="Workspace.GradX"/>/<see cref="Workspace.GradY"/>.
    /// </summary>
    internal static void Gradient(float[] p, float[] x, float[] y, int n, double exaggeration, Workspace ws)
    {
        ForRows(n, ws.Workers, ws.Scratch, (i, s) =>
        {
            Span<float> dx = s[0], dy = s[1], w = s[2], t = s[3];
            Kernel(x, y, i, dx, dy, w);
            ws.RowZ[i] = TensorPrimitives.Sum<float>(w);
            TensorPrimitives.Multiply(p.AsSpan(i * n, n), w, t);         // p_ij w_ij
            ws.Ax[i] = TensorPrimitives.Dot<float>(t, dx);                // Σ p w (y_j − y_i)
            ws.Ay[i] = TensorPrimitives.Dot<float>(t, dy);
            TensorPrimitives.Multiply(w, w, t);                           // w_ij²
            ws.Rx[i] = TensorPrimitives.Dot<float>(t, dx);
            ws.Ry[i] = TensorPrimitives.Dot<float>(t, dy);
        });
        double z = 0;
        for (int i = 0; i < n; i++) z += ws.RowZ[i]; // fixed order: deterministic
        float e = (float)exaggeration, invZ = (float)(1 / z);
        // dC/dy_i = 4 Σ_j (e·p_ij − w_ij/Z) w_ij (y_i − y_j) = 4 (−e·A_i + R_i / Z), with A, R over (y_j − y_i).
        for (int i = 0; i < n; i++)
        {
            ws.GradX[i] = 4 * (-e * ws.Ax[i] + ws.Rx[i] * invZ);
            ws.GradY[i] = 4 * (-e * ws.Ay[i] + ws.Ry[i] * invZ);
        }
    }

    /// <summary>KL(P‖Q) = Σ p log p − Σ p log w + (Σ p) log Z, in double over float kernels.</summary>
    internal static double Kl(float[] p, float[] x, float[] y, int n, double pLogP, double pSum, Workspace ws)
    {
        ForRows(n, ws.Workers, ws.Scratch, (i, s) =>
        {
            Span<float> dx = s[0], dy = s[1], w = s[2], t = s[3];
            Kernel(x, y, i, dx, dy, w);
            ws.RowZ[i] = TensorPrimitives.Sum<float>(w);
            w[i] = 1; // log 1 = 0 where p_ii = 0
            TensorPrimitives.Log(w, t);
            ws.RowKl[i] = TensorPrimitives.Dot<float>(p.AsSpan(i * n, n), t);
        });
        double z = 0, pLogW = 0;
        for (int i = 0; i < n; i++) { z += ws.RowZ[i]; pLogW += ws.RowKl[i]; }
        return pLogP - pLogW + pSum * Math.Log(z);
    }

    /// <summary>Z = Σ_{i≠j} 1 / (1 + |y_i − y_j|²) over all pairs, rows in parallel, summed in a fixed order.</summary>
    internal static double ExactZ(float[] x, float[] y, int? workers = null)
    {
        int n = x.Length;
        var rowZ = new double[n];
        using var scratch = new ThreadLocal<float[][]>(() => [new float[n], new float[n], new float[n]]);
        ForRows(n, workers ?? Math.Max(1, Math.Min(Environment.ProcessorCount, n / 32)), scratch, (i, s) =>
        {
            Kernel(x, y, i, s[0], s[1], s[2]);
            rowZ[i] = TensorPrimitives.Sum<float>(s[2]);
        });
        double z = 0;
        foreach (double v in rowZ) z += v;
        return z;
    }

    // w_ij = 1 / (1 + |y_i − y_j|²) for every j, w_ii = 0; dx, dy = y_j − y_i.
    private static void Kernel(float[] x, float[] y, int i, Span<float> dx, Span<float> dy, Span<float> w)
    {
        TensorPrimitives.Subtract(x, x[i], dx);
        TensorPrimitives.Subtract(y, y[i], dy);
        TensorPrimitives.Multiply(dx, dx, w);
        TensorPrimitives.MultiplyAdd(dy, dy, w, w);
        TensorPrimitives.Add(w, 1f, w);
        TensorPrimitives.Reciprocal<float>(w, w);
        w[i] = 0;
    }

    // Contiguous row blocks per worker; each row's results go to its own slots, so the split never changes them.
    internal static void ForRows(int n, int workers, ThreadLocal<float[][]> scratch, Action<int, float[][]> body)
    {
        if (workers == 1) { var s = scratch.Value!; for (int i = 0; i < n; i++) body(i, s); return; }
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
        {
            var s = scratch.Value!;
            for (int i = n * w / workers, end = n * (w + 1) / workers; i < end; i++) body(i, s);
        });
    }

    // Gains and momentum as in van der Maaten's reference: a gain grows while the gradient keeps flipping the step.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Update(float[] grad, float[] update, float[] gains, float momentum, float learningRate, float minGain)
    {
        for (int i = 0; i < grad.Length; i++)
        {
            float g = grad[i];
            gains[i] = update[i] * g < 0 ? gains[i] + 0.2f : gains[i] * 0.8f;
            if (gains[i] < minGain) gains[i] = minGain;
            update[i] = momentum * update[i] - learningRate * gains[i] * g;
        }
    }

    // Each point moves at most maxStep per iteration (FIt-SNE's max_step_norm): the paper's step size × exaggeration
    // (800 × 25 on ~1000 points) otherwise flings points far out early, where they stay stuck in poor minima.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Move(float[] x, float[] y, float[] ux, float[] uy, float maxStep)
    {
        float max2 = maxStep * maxStep;
        for (int i = 0; i < x.Length; i++)
        {
            float n2 = ux[i] * ux[i] + uy[i] * uy[i];
            if (n2 > max2) { float f = maxStep / MathF.Sqrt(n2); ux[i] *= f; uy[i] *= f; }
            x[i] += ux[i]; y[i] += uy[i];
        }
    }
}
