using VacCnn.Engine.Analytics;

namespace VacCnn.Engine.Tests.Analytics;

/// <summary>The t-SNE written for the distribution graph, checked against independent computations.</summary>
public class TsneTests
{
    /// <summary>Points in <paramref name="dims"/>-D around <paramref name="clusters"/> far-apart centres, and their Euclidean distances.</summary>
    internal static (float[] Distances, int[] Cluster, double[][] Points) Clusters(int clusters, int perCluster, int dims, int seed)
    {
        var rng = new Random(seed);
        double Gauss() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var centres = Enumerable.Range(0, clusters).Select(_ => Enumerable.Range(0, dims).Select(_ => 10 * Gauss()).ToArray()).ToArray();
        int n = clusters * perCluster;
        var points = new double[n][];
        var cluster = new int[n];
        for (int i = 0; i < n; i++)
        {
            cluster[i] = i % clusters;
            points[i] = centres[cluster[i]].Select(c => c + Gauss()).ToArray();
        }
        var d = new float[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                d[i * n + j] = (float)Math.Sqrt(points[i].Zip(points[j], (a, b) => (a - b) * (a - b)).Sum());
        return (d, cluster, points);
    }

    private static int[] Nearest(Func<int, int, double> dist, int n, int i, int k) =>
        Enumerable.Range(0, n).Where(j => j != i).OrderBy(j => dist(i, j)).ThenBy(j => j).Take(k).ToArray();

    /// <summary>Trustworthiness (Venna &amp; Kaski), as scikit-learn defines it: 1 − penalty for embedding neighbours that were far away.</summary>
    private static double Trustworthiness(Func<int, int, double> original, Func<int, int, double> embedded, int n, int k)
    {
        double penalty = 0;
        for (int i = 0; i < n; i++)
        {
            var rank = Enumerable.Range(0, n).Where(j => j != i).OrderBy(j => original(i, j)).ThenBy(j => j)
                .Select((j, r) => (j, r: r + 1)).ToDictionary(t => t.j, t => t.r);
            foreach (int j in Nearest(embedded, n, i, k)) penalty += Math.Max(0, rank[j] - k);
        }
        return 1 - 2.0 / (n * k * (2.0 * n - 3 * k - 1)) * penalty;
    }

    [Fact]
    public void Conditional_probabilities_reach_the_requested_perplexity()
    {
        var (d, _, _) = Clusters(4, 15, 6, seed: 5);
        int n = 60;
        var p = TsneAffinities.Conditional(d, n, 5, square: false);
        for (int i = 0; i < n; i++)
        {
            double sum = 0, entropy = 0;
            for (int j = 0; j < n; j++)
            {
                double v = p[i * n + j];
                sum += v;
                if (v > 0) entropy -= v * Math.Log(v);
            }
            Assert.Equal(0, p[i * n + i]);
            Assert.Equal(1, sum, 9);
            Assert.Equal(5, Math.Exp(entropy), 3);
        }
        var joint = TsneAffinities.Dense(d, n, 5, square: false);
        Assert.Equal(1, joint.Sum(v => (double)v), 4);
        Assert.Equal(joint[3 * n + 7], joint[7 * n + 3]);
    }

    [Fact]
    public void Gradient_matches_central_finite_differences_of_an_independent_KL()
    {
        var (d, _, _) = Clusters(3, 4, 5, seed: 6);
        int n = 12;
        var p = TsneAffinities.Dense(d, n, 3, square: false);
        var rng = new Random(7);
        var x = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble() * 4).ToArray();
        var y = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble() * 4).ToArray();

        double Kl(double[] xs, double[] ys)
        {
            double z = 0;
            for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) if (i != j) z += 1 / (1 + (xs[i] - xs[j]) * (xs[i] - xs[j]) + (ys[i] - ys[j]) * (ys[i] - ys[j]));
            double kl = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                {
                    if (i == j) continue;
                    double q = 1 / (1 + (xs[i] - xs[j]) * (xs[i] - xs[j]) + (ys[i] - ys[j]) * (ys[i] - ys[j])) / z;
                    double pij = p[i * n + j];
                    kl += pij * Math.Log(pij / q);
                }
            return kl;
        }

        using var ws = new Tsne.Workspace(n);
        Tsne.Gradient(p, x, y, n, 1, ws);
        const double h = 1e-4;
        for (int i = 0; i < n; i++)
        {
            for (int axis = 0; axis < 2; axis++)
            {
                var xs = x.Select(v => (double)v).ToArray();
                var ys = y.Select(v => (double)v).ToArray();
                var target = axis == 0 ? xs : ys;
                target[i] += h; double plus = Kl(xs, ys);
                target[i] -= 2 * h; double minus = Kl(xs, ys);
                double numeric = (plus - minus) / (2 * h);
                double analytic = axis == 0 ? ws.GradX[i] : ws.GradY[i];
                Assert.True(Math.Abs(numeric - analytic) < 1e-4 + 1e-3 * Math.Abs(numeric), $"point {i} axis {axis}: analytic {analytic}, numeric {numeric}");
            }
        }

        // The reported KL equals the independent one.
        var pLogP = p.Where(v => v > 0).Sum(v => v * Math.Log(v));
        double reported = Tsne.Kl(p, x, y, n, pLogP, p.Sum(v => (double)v), ws);
        Assert.Equal(Kl(x.Select(v => (double)v).ToArray(), y.Select(v => (double)v).ToArray()), reported, 4);
    }

    /// <remarks>
    /// At the scale of the graph (hundreds to 1000 classes). With the paper's aggressive settings (exaggeration 25 ×
    /// learning rate 800) on only ~150 points the optimisation oscillates and mixes ~10 % of neighbours, as the
    /// exaggeration × step size ≫ n analysis of Linderman &amp; Steinerberger predicts; at 600 points it does not.
    /// </remarks>
    [Fact]
    public void Well_separated_clusters_stay_separated_with_the_papers_settings()
    {
        var (d, cluster, _) = Clusters(10, 60, 10, seed: 8);
        int n = 600;
        var result = Tsne.Run(d, n);
        Assert.Equal(5, result.Perplexity);
        double Embedded(int i, int j) => Math.Pow(result.X[i] - result.X[j], 2) + Math.Pow(result.Y[i] - result.Y[j], 2);
        double Original(int i, int j) => d[i * n + j];

        // k-NN preservation: of each point's 5 nearest neighbours in the picture, the share from its own cluster.
        int same = 0;
        for (int i = 0; i < n; i++) same += Nearest(Embedded, n, i, 5).Count(j => cluster[j] == cluster[i]);
        double share = same / (5.0 * n);
        Assert.True(share >= 0.98, $"only {share:P1} of embedding neighbours share the cluster");

        double trust = Trustworthiness(Original, Embedded, n, 5);
        Assert.True(trust >= 0.9, $"trustworthiness {trust:F3} < 0.9");
    }

    [Fact]
    public void KL_decreases_after_the_exaggeration_phase_and_is_reported()
    {
        var (d, _, _) = Clusters(10, 60, 10, seed: 9);
        var o = TsneOptions.Default;
        var result = Tsne.Run(d, 600, o);
        var history = result.KlHistory;
        Assert.Equal(o.Iterations / o.KlEvery, history.Count);
        Assert.Equal(history[^1].Kl, result.Kl);
        double atSwitch = history.Single(h => h.Iteration == o.ExaggerationIterations).Kl;
        Assert.True(result.Kl < 0.75 * atSwitch, $"KL went from {atSwitch} at the end of the exaggeration to only {result.Kl}");
        // Once the clusters have expanded (100 iterations after the switch of P and momentum) the descent is monotone.
        var settled = history.Where(h => h.Iteration >= o.ExaggerationIterations + 100).Select(h => h.Kl).ToList();
        for (int k = 1; k < settled.Count; k++)
            Assert.True(settled[k] <= settled[k - 1] * 1.001, $"KL rose from {settled[k - 1]} to {settled[k]}: " + string.Join(", ", history.Select(h => $"{h.Iteration}:{h.Kl:F3}")));
        Assert.True(result.Kl > 0 && result.Kl < history[0].Kl);
    }

    [Fact]
    public void Same_seed_gives_identical_output_and_another_seed_does_not()
    {
        var (d, _, _) = Clusters(4, 20, 5, seed: 10);
        var o = TsneOptions.Default with { Iterations = 300 };
        var a = Tsne.Run(d, 80, o);
        var b = Tsne.Run(d, 80, o);
        Assert.Equal(a.X, b.X);
        Assert.Equal(a.Y, b.Y);
        Assert.Equal(a.Kl, b.Kl);
        var c = Tsne.Run(d, 80, o with { Seed = 1 });
        Assert.NotEqual(a.X, c.X);

        // The same on one thread or three: no sum depends on how rows are split between threads.
        var single = Tsne.Run(d, 80, o, null, default, workers: 1);
        var three = Tsne.Run(d, 80, o, null, default, workers: 3);
        Assert.Equal(a.X, single.X);
        Assert.Equal(a.Y, three.Y);
    }

    [Fact]
    public void A_reference_start_is_used_rescaled_and_required()
    {
        var (d, cluster, _) = Clusters(2, 30, 5, seed: 13);
        int n = 60;
        var o = TsneOptions.Default with { Init = TsneInit.Reference, Iterations = 300 };
        // Start: cluster 0 on the left, cluster 1 on the right, at a scale far from the one used (only the shape counts).
        var start = (Enumerable.Range(0, n).Select(i => cluster[i] == 0 ? -1000f : 1000f + i).ToArray(), Enumerable.Range(0, n).Select(i => (float)i).ToArray());
        var a = Tsne.Run(d, n, o, initial: start);
        // Rescaled: the same start whatever its units (one step, before float rounding is amplified by the optimiser).
        var shrunk = (start.Item1.Select(v => v / 1000).ToArray(), start.Item2.Select(v => v / 1000).ToArray());
        Assert.Equal(Tsne.Run(d, n, o with { Iterations = 1 }, initial: start).X, Tsne.Run(d, n, o with { Iterations = 1 }, initial: shrunk).X,
            (p, q) => Math.Abs(p - q) < 1e-3f);
        // The clusters stay on the sides they started on (a random start puts them anywhere).
        double left = Enumerable.Range(0, n).Where(i => cluster[i] == 0).Average(i => a.X[i]);
        double right = Enumerable.Range(0, n).Where(i => cluster[i] == 1).Average(i => a.X[i]);
        Assert.True(left < right, $"cluster 0 at x = {left:F2}, cluster 1 at x = {right:F2}");
        // The random start ignores a layout it is given; the reference start needs one of the right size.
        Assert.Equal(Tsne.Run(d, n, o with { Init = TsneInit.Random }).X, Tsne.Run(d, n, o with { Init = TsneInit.Random }, initial: start).X);
        Assert.Contains("start layout", Assert.Throws<ArgumentException>(() => Tsne.Run(d, n, o)).Message);
        Assert.Contains("60", Assert.Throws<ArgumentException>(() => Tsne.Run(d, n, o, initial: (new float[3], new float[3]))).Message);
        Assert.NotEqual(TsneOptions.Default.CacheText(), o.CacheText());
        Assert.DoesNotContain("init", TsneOptions.Default.CacheText()); // keys of graphs cached before the option stay valid
    }

    [Fact]
    public void Few_points_and_bad_input()
    {
        Assert.Empty(Tsne.Run([], 0).X);
        var one = Tsne.Run([0f], 1);
        Assert.Equal([0f], one.X);
        var three = Tsne.Run([0, 1, 2, 1, 0, 1, 2, 1, 0], 3, TsneOptions.Default with { Iterations = 100 });
        Assert.Equal(1, three.Perplexity);
        Assert.All(three.X.Concat(three.Y), v => Assert.True(float.IsFinite(v)));

        Assert.Throws<ArgumentException>(() => Tsne.Run([0, -1, -1, 0], 2));
        Assert.Throws<ArgumentException>(() => Tsne.Run([0, float.NaN, 1, 0], 2));
        Assert.Throws<ArgumentException>(() => Tsne.Run([0, 1, 1], 2));
        Assert.Contains("perplexity", Assert.Throws<ArgumentException>(() => Tsne.Run([0, 1, 1, 0], 2, new TsneOptions { Perplexity = 0 })).Message);
        Assert.Contains("learning rate", Assert.Throws<ArgumentException>(() => Tsne.Run([0, 1, 1, 0], 2, new TsneOptions { LearningRate = -1 })).Message);
    }
}

/// <summary>The Barnes-Hut parts (neighbour graph, sparse P, quadtree gradient) and the alignment, against naive computations.</summary>
public class BarnesHutTsneTests
{
    [Fact]
    public void Neighbour_graph_equals_a_naive_sort_with_ties_by_index()
    {
        var (d, _, _) = TsneTests.Clusters(5, 12, 4, seed: 11);
        int n = 60;
        d[3 * n + 7] = d[7 * n + 3] = d[3 * n + 9] = d[9 * n + 3] = 0.5f; // a tie
        var g = NeighbourGraph.FromDense(d, n, 8);
        for (int i = 0; i < n; i++)
        {
            var naive = Enumerable.Range(0, n).Where(j => j != i).OrderBy(j => d[i * n + j]).ThenBy(j => j).Take(8).ToArray();
            Assert.Equal(naive, g.Of(i).ToArray());
        }
    }

    [Fact]
    public void Sparse_P_fits_each_rows_perplexity_over_its_neighbours_and_is_symmetric()
    {
        var (d, _, _) = TsneTests.Clusters(4, 20, 5, seed: 12);
        int n = 80;
        var g = NeighbourGraph.FromDense(d, n, 16);
        var p = TsneAffinities.Sparse(g, 5, square: true);
        var dense = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int e = p.RowStart[i]; e < p.RowStart[i + 1]; e++) dense[i, p.Column[e]] = p.Value[e];
        double total = 0;
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) { total += dense[i, j]; Assert.Equal(dense[i, j], dense[j, i], 7); }
        Assert.Equal(1, total, 5);
        // Independently: each row's conditional over its 16 neighbours at perplexity 5 from squared distances, by bisection.
        var cond = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            var nb = g.Of(i).ToArray();
            var sq = nb.Select(j => (double)d[i * n + j] * d[i * n + j]).ToArray();
            double lo = 0, hi = 1e6;
            double[] row = [];
            for (int it = 0; it < 200; it++)
            {
                double beta = (lo + hi) / 2;
                var w = sq.Select(v => Math.Exp(-(v - sq.Min()) * beta)).ToArray();
                row = w.Select(v => v / w.Sum()).ToArray();
                double h = -row.Where(v => v > 0).Sum(v => v * Math.Log(v));
                if (h > Math.Log(5)) lo = beta; else hi = beta;
            }
            for (int a = 0; a < nb.Length; a++) cond[i, nb[a]] = row[a];
        }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                Assert.True(Math.Abs((cond[i, j] + cond[j, i]) / (2.0 * n) - dense[i, j]) < 2e-6, $"p[{i},{j}]");
    }

    private static (SparseAffinities P, float[] X, float[] Y, double[,] Dense) Problem(int n, int seed)
    {
        var (d, _, _) = TsneTests.Clusters(4, n / 4, 5, seed);
        var p = TsneAffinities.Sparse(NeighbourGraph.FromDense(d, n, 10), 3, square: true);
        var rng = new Random(seed);
        var x = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 6)).ToArray();
        var y = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 6)).ToArray();
        x[5] = x[6]; y[5] = y[6]; // two coincident points
        var dense = new double[n, n];
        for (int i = 0; i < n; i++) for (int e = p.RowStart[i]; e < p.RowStart[i + 1]; e++) dense[i, p.Column[e]] = p.Value[e];
        return (p, x, y, dense);
    }

    private static double IndependentKl(double[,] p, double[] xs, double[] ys)
    {
        int n = xs.Length;
        double z = 0;
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) if (i != j) z += 1 / (1 + (xs[i] - xs[j]) * (xs[i] - xs[j]) + (ys[i] - ys[j]) * (ys[i] - ys[j]));
        double kl = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (p[i, j] > 0) kl += p[i, j] * Math.Log(p[i, j] * z * (1 + (xs[i] - xs[j]) * (xs[i] - xs[j]) + (ys[i] - ys[j]) * (ys[i] - ys[j])));
        return kl;
    }

    [Fact]
    public void Barnes_Hut_gradient_with_angle_zero_matches_finite_differences_and_angle_half_stays_close()
    {
        int n = 120;
        var (p, x, y, dense) = Problem(n, 13);
        using var exact = new BarnesHutGradient(p, 0, workers: 2);
        exact.Gradient(x, y, 1);
        const double h = 1e-4;
        for (int i = 0; i < n; i += 7)
            for (int axis = 0; axis < 2; axis++)
            {
                var xs = x.Select(v => (double)v).ToArray();
                var ys = y.Select(v => (double)v).ToArray();
                var target = axis == 0 ? xs : ys;
                target[i] += h; double plus = IndependentKl(dense, xs, ys);
                target[i] -= 2 * h; double minus = IndependentKl(dense, xs, ys);
                double numeric = (plus - minus) / (2 * h);
                double analytic = axis == 0 ? exact.GradX[i] : exact.GradY[i];
                Assert.True(Math.Abs(numeric - analytic) < 1e-5 + 1e-3 * Math.Abs(numeric), $"point {i} axis {axis}: {analytic} vs {numeric}");
            }
        Assert.Equal(IndependentKl(dense, x.Select(v => (double)v).ToArray(), y.Select(v => (double)v).ToArray()), exact.ExactKl(x, y), 5);

        using var approx = new BarnesHutGradient(p, 0.5, workers: 1);
        approx.Gradient(x, y, 1);
        double err = 0, norm = 0;
        for (int i = 0; i < n; i++)
        {
            err += Math.Pow(approx.GradX[i] - exact.GradX[i], 2) + Math.Pow(approx.GradY[i] - exact.GradY[i], 2);
            norm += Math.Pow(exact.GradX[i], 2) + Math.Pow(exact.GradY[i], 2);
        }
        Assert.True(Math.Sqrt(err / norm) < 0.05, $"relative error of the θ = 0.5 gradient {Math.Sqrt(err / norm):F4}");
        // The tree's Z (printed KL during the run) is close to the exact one.
        Assert.Equal(approx.ExactKl(x, y), approx.Kl(x, y), 2);
    }

    [Fact]
    public void Barnes_Hut_is_deterministic_whatever_the_thread_count_and_keeps_clusters()
    {
        var (d, cluster, _) = TsneTests.Clusters(10, 60, 10, seed: 14);
        int n = 600;
        var a = Tsne.Run(d, n, TsneOptions.Default, null, default, workers: 1);
        var b = Tsne.Run(d, n, TsneOptions.Default, null, default, workers: 3);
        Assert.Equal(a.X, b.X);
        Assert.Equal(a.Y, b.Y);
        int same = 0;
        for (int i = 0; i < n; i++)
            same += Enumerable.Range(0, n).Where(j => j != i).OrderBy(j => Math.Pow(a.X[i] - a.X[j], 2) + Math.Pow(a.Y[i] - a.Y[j], 2)).Take(5).Count(j => cluster[j] == cluster[i]);
        Assert.True(same / (5.0 * n) >= 0.98, $"{same / (5.0 * n):P1} of neighbours share the cluster");
        Assert.True(a.Recall > 0.3 && a.Recall <= 1, $"recall {a.Recall}");
    }

    [Fact]
    public void Procrustes_recovers_a_known_rotation_reflection_scale_and_shift()
    {
        var rng = new Random(15);
        int n = 50;
        var x = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
        var y = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
        foreach (bool reflect in new[] { false, true })
        {
            double t = 1.1, s = 2.5, c = Math.Cos(t), sn = Math.Sin(t);
            // reference = s · R · (x, y) + (3, −4), R a rotation by t, after mirroring y when reflect.
            var rx = new float[n]; var ry = new float[n];
            for (int i = 0; i < n; i++)
            {
                double a = x[i], b = reflect ? -y[i] : y[i];
                rx[i] = (float)(s * (c * a - sn * b) + 3);
                ry[i] = (float)(s * (sn * a + c * b) - 4);
            }
            var fit = Procrustes.Fit(x, y, rx, ry);
            Assert.Equal(s, fit.Scale, 4);
            Assert.True(fit.Residual < 1e-5, $"residual {fit.Residual}");
            Assert.Equal(reflect ? -1 : 1, fit.R00 * fit.R11 - fit.R01 * fit.R10, 6);
            var ax = (float[])x.Clone(); var ay = (float[])y.Clone();
            fit.Apply(ax, ay);
            for (int i = 0; i < n; i++) { Assert.Equal(rx[i], ax[i], 3); Assert.Equal(ry[i], ay[i], 3); }
        }
    }

    [Fact]
    public void WordNet_distance_is_the_path_length_through_the_common_ancestor()
    {
        // entity ← animal ← dog ← {terrier, hound}; entity ← artifact ← car. Classes: terrier, hound, car.
        var parents = new Dictionary<string, IReadOnlyList<string>>
        {
            ["n00000002"] = ["n00000001"], ["n00000003"] = ["n00000002"], ["n00000004"] = ["n00000003"], ["n00000005"] = ["n00000003"],
            ["n00000006"] = ["n00000001"], ["n00000007"] = ["n00000006"],
        };
        var classes = new VacCnn.Engine.Data.ImageNetClasses
        {
            Classes = [new(0, "n00000004", "terrier", "terrier", "animal"), new(1, "n00000005", "hound", "hound", "animal"), new(2, "n00000007", "car", "car", "artifact")],
            Parents = parents,
        };
        var d = ReferenceLayout.WordNetDistances(classes);
        Assert.Equal([0f, 2f, 5f, 2f, 0f, 5f, 5f, 5f, 0f], d);
    }
}
