using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using MathNet.Numerics.Distributions;
using MathNet.Numerics.Random;

namespace VacCnn.Engine.Analytics;

/// <summary>
/// Settings of <see cref="Tsne"/>. The defaults are those of the VAC-CNN paper's own code (scikit-learn's TSNE with
/// perplexity 5, early exaggeration 25, learning rate 800, random initialisation) with scikit-learn's schedule:
/// 1000 iterations, the first 250 exaggerated with momentum 0.5, then momentum 0.8.
/// </summary>
public sealed record TsneOptions
{
    /// <summary>Effective number of neighbours each point considers (clamped to (points − 1) / 3 for tiny inputs).</summary>
    public double Perplexity { get; init; } = 5;
    /// <summary>Factor on P during the first <see cref="ExaggerationIterations"/> iterations (forms tight, separated clusters early).</summary>
    public double EarlyExaggeration { get; init; } = 25;
    /// <summary>Gradient-descent step size.</summary>
    public double LearningRate { get; init; } = 800;
    /// <summary>Total iterations.</summary>
    public int Iterations { get; init; } = 1000;
    /// <summary>Iterations with early exaggeration and the initial momentum (all of them when there are fewer iterations).</summary>
    public int ExaggerationIterations { get; init; } = 250;
    /// <summary>Momentum while exaggerating.</summary>
    public double InitialMomentum { get; init; } = 0.5;
    /// <summary>Momentum afterwards.</summary>
    public double FinalMomentum { get; init; } = 0.8;
    /// <summary>Lower bound of the per-coordinate adaptive gains.</summary>
    public double MinGain { get; init; } = 0.01;
    /// <summary>Seed of the random initialisation (Mersenne Twister, N(0, 1e-4²) per coordinate).</summary>
    public int Seed { get; init; }
    /// <summary>How often (iterations) the KL divergence is recorded in <see cref="TsneResult.KlHistory"/>.</summary>
    public int KlEvery { get; init; } = 50;

    /// <summary>The paper's settings.</summary>
    public static TsneOptions Default { get; } = new();

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        static void Check(bool ok, string what) { if (!ok) throw new ArgumentException(what); }
        Check(double.IsFinite(Perplexity) && Perplexity >= 1, $"perplexity must be at least 1, got {Perplexity}");
        Check(double.IsFinite(EarlyExaggeration) && EarlyExaggeration >= 1, $"early exaggeration must be at least 1, got {EarlyExaggeration}");
        Check(double.IsFinite(LearningRate) && LearningRate > 0, $"learning rate must be positive, got {LearningRate}");
        Check(Iterations is >= 1 and <= 100_000, $"iterations must be 1..100000, got {Iterations}");
        Check(ExaggerationIterations >= 0, $"exaggeration iterations must not be negative, got {ExaggerationIterations}");
        Check(InitialMomentum is >= 0 and < 1 && FinalMomentum is >= 0 and < 1, "momentum must be in [0, 1)");
        Check(MinGain > 0, "minimum gain must be positive");
        Check(KlEvery >= 1, "KL interval must be at least 1");
    }

    /// <summary>A canonical text of every setting that changes the result (part of cache keys).</summary>
    public string CacheText() => string.Create(CultureInfo.InvariantCulture,
        $"tsne-exact-v1|perp={Perplexity:R}|ee={EarlyExaggeration:R}|lr={LearningRate:R}|it={Iterations}|eit={ExaggerationIterations}|m0={InitialMomentum:R}|m1={FinalMomentum:R}|g={MinGain:R}|seed={Seed}");
}

/// <summary>A 2-D embedding.</summary>
/// <param name="X">First coordinate per point.</param>
/// <param name="Y">Second coordinate per point.</param>
/// <param name="Kl">Final KL(P‖Q) (without exaggeration).</param>
/// <param name="Perplexity">The perplexity used (the requested one unless clamped for few points).</param>
/// <param name="KlHistory">(iteration, KL) every <see cref="TsneOptions.KlEvery"/> iterations, and at the end.</param>
/// <param name="Seconds">Wall-clock time.</param>
public sealed record TsneResult(float[] X, float[] Y, double Kl, double Perplexity, IReadOnlyList<(int Iteration, double Kl)> KlHistory, double Seconds);

/// <summary>
/// Exact t-SNE (van der Maaten &amp; Hinton 2008) on precomputed distances, following van der Maaten's reference
/// implementation and scikit-learn's exact method:
/// <list type="bullet">
/// <item>conditional p(j|i) ∝ exp(−d_ij·β_i) with β_i found by bisection so that the row's perplexity 2^H matches
/// (distances are used as given, like scikit-learn's metric="precomputed"); P = (P_cond + P_condᵀ) / (2n);</item>
/// <item>Student-t kernel w_ij = 1 / (1 + ‖y_i − y_j‖²), q_ij = w_ij / Σ w;
/// gradient 4 Σ_j (p_ij − q_ij) w_ij (y_i − y_j);</item>
/// <item>momentum with adaptive gains (+0.2 when the step changes sign, ×0.8 otherwise, at least MinGain).</item>
/// </list>
/// Each iteration is O(n²), vectorised with TensorPrimitives and split over cores by rows. Every row's sums are
/// computed by one thread and the global normaliser is summed over rows in a fixed order, so the result is
/// bit-identical for a seed whatever the number of cores (on one machine: SIMD width can change the last bits).
/// </summary>
public static class Tsne
{
    /// <summary>Embeds n points given their [n, n] symmetric distance matrix.</summary>
    public static TsneResult Run(float[] distances, int n, TsneOptions? options = null, Action<int, double>? progress = null,
        CancellationToken cancellationToken = default) => Run(distances, n, options, progress, cancellationToken, workers: null);

    /// <summary><see cref="Run(float[], int, TsneOptions?, Action{int, double}?, CancellationToken)"/> on a chosen number of threads.</summary>
    internal static TsneResult Run(float[] distances, int n, TsneOptions? options, Action<int, double>? progress,
        CancellationToken cancellationToken, int? workers)
    {
        var o = options ?? TsneOptions.Default;
        o.Validate();
        if (n < 0 || distances.Length != (long)n * n) throw new ArgumentException($"distances must be [n, n]; got {distances.Length} values for n = {n}");
        foreach (float v in distances)
            if (!float.IsFinite(v) || v < 0) throw new ArgumentException("distances must be finite and non-negative");
        var sw = Stopwatch.StartNew();
        if (n < 2) return new TsneResult(new float[n], new float[n], 0, 0, [], sw.Elapsed.TotalSeconds);

        double perplexity = EffectivePerplexity(o.Perplexity, n);
        var p = JointProbabilities(distances, n, perplexity);
        double pLogP = 0, pSum = 0;
        foreach (float v in p) if (v > 0) { pLogP += v * Math.Log(v); pSum += v; }

        var rng = new MersenneTwister(o.Seed);
        var normal = new Normal(0, 1e-4, rng);
        var x = new float[n];
        var y = new float[n];
        for (int i = 0; i < n; i++) { x[i] = (float)normal.Sample(); y[i] = (float)normal.Sample(); }

        using var state = new Workspace(n, workers);
        var ux = new float[n]; var uy = new float[n];
        var gainX = new float[n]; var gainY = new float[n];
        Array.Fill(gainX, 1f); Array.Fill(gainY, 1f);
        var history = new List<(int, double)>();
        for (int it = 0; it < o.Iterations; it++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            bool exploring = it < o.ExaggerationIterations;
            double exaggeration = exploring ? o.EarlyExaggeration : 1;
            float momentum = (float)(exploring ? o.InitialMomentum : o.FinalMomentum);
            Gradient(p, x, y, n, exaggeration, state);
            Step(x, state.GradX, ux, gainX, momentum, (float)o.LearningRate, (float)o.MinGain);
            Step(y, state.GradY, uy, gainY, momentum, (float)o.LearningRate, (float)o.MinGain);
            if ((it + 1) % o.KlEvery == 0 || it + 1 == o.Iterations)
            {
                double kl = Kl(p, x, y, n, pLogP, pSum, state);
                history.Add((it + 1, kl));
                progress?.Invoke(it + 1, kl);
            }
        }
        // Centre the picture (t-SNE is translation invariant).
        float mx = TensorPrimitives.Sum<float>(x) / n, my = TensorPrimitives.Sum<float>(y) / n;
        TensorPrimitives.Subtract(x, mx, x);
        TensorPrimitives.Subtract(y, my, y);
        return new TsneResult(x, y, history[^1].Item2, perplexity, history, sw.Elapsed.TotalSeconds);
    }

    /// <summary>The perplexity actually used: at most (n − 1) / 3 (as bhtsne requires), at least 1.</summary>
    public static double EffectivePerplexity(double requested, int n) => Math.Max(1, Math.Min(requested, (n - 1) / 3.0));

    /// <summary>
    /// Conditional probabilities p(j|i) (rows sum to 1, p(i|i) = 0), each row's β found by bisection to the target
    /// perplexity (natural-log entropy, tolerance 1e-5, at most 200 steps, as scikit-learn).
    /// </summary>
    internal static double[] ConditionalProbabilities(float[] distances, int n, double perplexity)
    {
        var result = new double[(long)n * n];
        double target = Math.Log(perplexity);
        Parallel.For(0, n, i =>
        {
            var row = result.AsSpan(i * n, n);
            // Shift by the row minimum: the normalised probabilities are unchanged and exp() cannot underflow to all zeros.
            double min = double.PositiveInfinity;
            for (int j = 0; j < n; j++) if (j != i) min = Math.Min(min, distances[(long)i * n + j]);
            double beta = 1, lo = double.NegativeInfinity, hi = double.PositiveInfinity;
            for (int step = 0; step < 200; step++)
            {
                double sum = 0, weighted = 0;
                for (int j = 0; j < n; j++)
                {
                    if (j == i) { row[j] = 0; continue; }
                    double d = distances[(long)i * n + j] - min;
                    double v = Math.Exp(-d * beta);
                    row[j] = v; sum += v; weighted += d * v;
                }
                double entropy = Math.Log(sum) + beta * weighted / sum;
                for (int j = 0; j < n; j++) row[j] /= sum;
                double diff = entropy - target;
                if (Math.Abs(diff) <= 1e-5) break;
                if (diff > 0) { lo = beta; beta = double.IsPositiveInfinity(hi) ? beta * 2 : (beta + hi) / 2; }
                else { hi = beta; beta = double.IsNegativeInfinity(lo) ? beta / 2 : (beta + lo) / 2; }
            }
        });
        return result;
    }

    /// <summary>Symmetric joint P = (P_cond + P_condᵀ) / (2n), floored at 1e-12 off the diagonal, as float.</summary>
    internal static float[] JointProbabilities(float[] distances, int n, double perplexity)
    {
        var cond = ConditionalProbabilities(distances, n, perplexity);
        var p = new float[(long)n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (i != j) p[(long)i * n + j] = (float)Math.Max((cond[(long)i * n + j] + cond[(long)j * n + i]) / (2.0 * n), 1e-12);
        return p;
    }

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
    /// The KL gradient with P multiplied by <paramref name="exaggeration"/>, into <see cref="Workspace.GradX"/>/<see cref="Workspace.GradY"/>.
    /// </summary>
    internal static void Gradient(float[] p, float[] x, float[] y, int n, double exaggeration, Workspace ws)
    {
        ForRows(n, ws, (i, s) =>
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
        ForRows(n, ws, (i, s) =>
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
    private static void ForRows(int n, Workspace ws, Action<int, float[][]> body)
    {
        int workers = ws.Workers;
        if (workers == 1) { var s = ws.Scratch.Value!; for (int i = 0; i < n; i++) body(i, s); return; }
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
        {
            var s = ws.Scratch.Value!;
            for (int i = n * w / workers, end = n * (w + 1) / workers; i < end; i++) body(i, s);
        });
    }

    // Gains and momentum as in van der Maaten's reference: a gain grows while the gradient keeps flipping the step.
    private static void Step(float[] pos, float[] grad, float[] update, float[] gains, float momentum, float learningRate, float minGain)
    {
        for (int i = 0; i < pos.Length; i++)
        {
            float g = grad[i];
            gains[i] = update[i] * g < 0 ? gains[i] + 0.2f : gains[i] * 0.8f;
            if (gains[i] < minGain) gains[i] = minGain;
            update[i] = momentum * update[i] - learningRate * gains[i] * g;
            pos[i] += update[i];
        }
    }
}
