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
        var p = Tsne.ConditionalProbabilities(d, n, 5);
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
        var joint = Tsne.JointProbabilities(d, n, 5);
        Assert.Equal(1, joint.Sum(v => (double)v), 4);
        Assert.Equal(joint[3 * n + 7], joint[7 * n + 3]);
    }

    [Fact]
    public void Gradient_matches_central_finite_differences_of_an_independent_KL()
    {
        var (d, _, _) = Clusters(3, 4, 5, seed: 6);
        int n = 12;
        var p = Tsne.JointProbabilities(d, n, 3);
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
