using System.Diagnostics;
using System.Text.Json;
using VacCnn.Engine.Analytics;
using VacCnn.Engine.Data;
using VacCnn.Engine.Store;
using VacCnn.Engine.Tests.Evaluation;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Analytics;

/// <summary>
/// The class distance matrix of a real shared model (mobilenet_v2_1.0_224_quant over the 1000 samples: 1000 classes),
/// computed once for the tests below, and written as .npy for scikit-learn.
/// </summary>
public sealed class RealDistanceMatrixFixture : IDisposable
{
    public const string ModelId = "mobilenet_v2_1.0_224_quant";
    private readonly TempDir _data = new("vaccnn-tsne-ref");

    public RealDistanceMatrixFixture()
    {
        using var engine = EvaluationTests.CreateEngine(_data.Path);
        var set = ImageSet.Open(TestPaths.ImageNetSamples, engine.Classes);
        var run = engine.Store.GetRun(engine.Evaluation.Evaluate(ModelId, set).RunId)!;
        var (labels, _) = Npy.ReadInts(engine.Store.LabelsPath(run.RunId));
        Matrix = ClassDistance.FromNpy(engine.Store.ConfidencePath(run.RunId), labels);
        N = Matrix.Classes.Length;
        DistancesPath = _data.Combine("distances.npy");
        Npy.WriteFile(DistancesPath, Matrix.Distances, N, N);
    }

    public ClassDistanceMatrix Matrix { get; }
    public int N { get; }
    public string DistancesPath { get; }
    public string Folder => _data.Path;

    public void Dispose() => _data.Dispose();
}

/// <summary>
/// VacCnn's t-SNE against scikit-learn's (Debian's python3-sklearn, tests/reference/tsne_reference.py) on the real
/// 1000-class matrix with the paper's parameters, three seeds each. Both sides' embeddings are scored by the same
/// independent Python code: KL(P‖Q) with P built by scikit-learn's own functions and Q over all pairs, and k-NN recall
/// (k = 10) of the matrix's neighbours in the layout. VacCnn's median must be at least as good on both.
/// </summary>
public class TsneReferenceTests(RealDistanceMatrixFixture real) : IClassFixture<RealDistanceMatrixFixture>
{
    private static readonly int[] Seeds = [0, 1, 2];

    [Fact]
    public void Barnes_Hut_matches_or_beats_scikit_learn_on_a_real_matrix() => CompareWithScikitLearn(TsneMethod.BarnesHut);

    [Fact]
    public void Exact_matches_or_beats_scikit_learn_on_a_real_matrix() => CompareWithScikitLearn(TsneMethod.Exact);

    private void CompareWithScikitLearn(TsneMethod method)
    {
        Assert.Equal(1000, real.N);
        var options = TsneOptions.Default with { Method = method };
        var ours = new List<(string Path, TsneResult Result)>();
        foreach (int seed in Seeds)
        {
            var result = Tsne.Run(real.Matrix.Distances, real.N, options with { Seed = seed });
            var xy = new float[real.N * 2];
            for (int i = 0; i < real.N; i++) { xy[2 * i] = result.X[i]; xy[2 * i + 1] = result.Y[i]; }
            string path = Path.Combine(real.Folder, $"ours-{options.MethodName}-{seed}.npy");
            Npy.WriteFile(path, xy, real.N, 2);
            ours.Add((path, result));
        }

        var reference = RunReference(method, ours.Select(o => o.Path));
        var sk = reference.GetProperty("sklearn").EnumerateArray().ToList();
        var scored = reference.GetProperty("embeddings").EnumerateArray().ToList();
        double Median(IEnumerable<double> v) { var s = v.Order().ToArray(); return s[s.Length / 2]; }
        double skKl = Median(sk.Select(e => e.GetProperty("kl").GetDouble()));
        double skRecall = Median(sk.Select(e => e.GetProperty("recall").GetDouble()));
        double ourKl = Median(scored.Select(e => e.GetProperty("kl").GetDouble()));
        double ourRecall = Median(scored.Select(e => e.GetProperty("recall").GetDouble()));
        string table = $"{method}: VacCnn KL {string.Join(", ", scored.Select(e => e.GetProperty("kl").GetDouble().ToString("F4")))} recall " +
            $"{string.Join(", ", scored.Select(e => e.GetProperty("recall").GetDouble().ToString("F4")))}; scikit-learn KL " +
            $"{string.Join(", ", sk.Select(e => e.GetProperty("kl").GetDouble().ToString("F4")))} recall {string.Join(", ", sk.Select(e => e.GetProperty("recall").GetDouble().ToString("F4")))}";

        Assert.True(ourKl <= skKl, $"median KL {ourKl:F4} > scikit-learn's {skKl:F4}. {table}");
        Assert.True(ourRecall >= skRecall, $"median 10-NN recall {ourRecall:F4} < scikit-learn's {skRecall:F4}. {table}");
        // Our own KL (against our P, which the script rebuilds independently) and recall, shown in the UI, agree with
        // the independent figures.
        for (int s = 0; s < ours.Count; s++)
        {
            Assert.Equal(scored[s].GetProperty("klOwnP").GetDouble(), ours[s].Result.Kl, 3);
            Assert.Equal(scored[s].GetProperty("recall").GetDouble(), ours[s].Result.Recall, 6);
        }
    }

    private JsonElement RunReference(TsneMethod method, IEnumerable<string> embeddings)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(TestPaths.RepoRoot, "tests", "reference", "tsne_reference.py"));
        foreach (string a in new[] { "--distances", real.DistancesPath, "--method", method == TsneMethod.Exact ? "exact" : "barnes_hut", "--seeds" })
            psi.ArgumentList.Add(a);
        foreach (int s in Seeds) psi.ArgumentList.Add(s.ToString(System.Globalization.CultureInfo.InvariantCulture));
        psi.ArgumentList.Add("--embedding");
        foreach (string e in embeddings) psi.ArgumentList.Add(e);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"tsne_reference.py failed (python3-sklearn installed? .ci/run installs it): {stderr.Result}");
        return JsonDocument.Parse(stdout).RootElement.Clone();
    }
}
