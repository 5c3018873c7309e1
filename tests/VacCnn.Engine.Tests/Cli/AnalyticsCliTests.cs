using System.Text.Json;
using VacCnn.Engine.Data;
using VacCnn.Engine.Store;
using VacCnn.Engine.Tests.Evaluation;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Cli;

/// <summary>A data folder with two real models evaluated on 15 real images, for the CLI analytics verbs.</summary>
public sealed class EvaluatedDataFixture : IDisposable
{
    public static readonly string[] Models = ["mobilenet_v1_0.25_128_quant", "mobilenet_v1_0.5_160_quant"];
    private readonly TempDir _images = EvaluationTests.SampleSubset(15, skip: 500);

    public EvaluatedDataFixture()
    {
        using var engine = EvaluationTests.CreateEngine(Data.Path);
        var set = ImageSet.Open(_images.Path, engine.Classes);
        foreach (var m in Models) engine.Evaluation.Evaluate(m, set);
    }

    public TempDir Data { get; } = new("vaccnn-cli-analytics");

    public void Dispose() { Data.Dispose(); _images.Dispose(); }
}

/// <summary><c>vaccnn graph</c> and <c>vaccnn accuracy</c>, run as real processes, against independent counts.</summary>
public class AnalyticsCliTests(EvaluatedDataFixture fixture) : IClassFixture<EvaluatedDataFixture>
{
    private static (int Code, string Out, string Err) Run(params string[] args) => VaccnnProcess.Run(args);

    private (float[] P, int[] Labels, int N) Stored(string model)
    {
        var store = new ResultStore(fixture.Data.Path);
        var run = store.LatestFinishedRuns().Single(r => r.ModelId == model);
        var (p, shape) = Npy.ReadFloats(store.ConfidencePath(run.RunId));
        return (p, Npy.ReadInts(store.LabelsPath(run.RunId)).Data, shape[1]);
    }

    private static int ArgMax(float[] p, int row, int n)
    {
        int best = 0;
        for (int j = 1; j < n; j++) if (p[row * n + j] > p[row * n + best]) best = j;
        return best;
    }

    [Fact]
    public void Graph_json_has_a_point_per_class_with_images_and_the_same_answer_twice()
    {
        string model = EvaluatedDataFixture.Models[0];
        var (p, labels, n) = Stored(model);
        var (code, stdout, stderr) = Run("graph", "--data", fixture.Data.Path, "--imagenet", TestPaths.ImageNet, "--model", model, "--json");
        Assert.True(code == 0, stderr);
        var graph = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal("ready", graph.GetProperty("status").GetString());
        Assert.Equal(model, graph.GetProperty("model").GetString());
        var points = graph.GetProperty("points").EnumerateArray().ToList();
        Assert.Equal(labels.Distinct().Order(), points.Select(x => x.GetProperty("index").GetInt32()).Order());
        Assert.Equal(n - labels.Distinct().Count(), graph.GetProperty("missing").GetArrayLength());
        foreach (var pt in points)
        {
            int cls = pt.GetProperty("index").GetInt32();
            var rows = Enumerable.Range(0, labels.Length).Where(i => labels[i] == cls).ToList();
            Assert.Equal(rows.Count(i => ArgMax(p, i, n) == cls) / (double)rows.Count, pt.GetProperty("accuracy").GetDouble(), 9);
        }
        // The cached answer is identical; with 15 points the perplexity 5 is clamped to (15 − 1) / 3.
        var (code2, stdout2, _) = Run("graph", "--data", fixture.Data.Path, "--imagenet", TestPaths.ImageNet, "--model", model, "--json");
        Assert.Equal(0, code2);
        Assert.Equal(stdout, stdout2);
        Assert.Equal(14 / 3.0, graph.GetProperty("perplexity").GetDouble(), 12);

        var (code3, table, _) = Run("graph", "--data", fixture.Data.Path, "--imagenet", TestPaths.ImageNet, "--model", model, "--seed", "3", "--iterations", "200");
        Assert.Equal(0, code3);
        Assert.Contains("seed 3", table);
        Assert.Contains("KL", table);
        Assert.Equal(points.Count + 3, table.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length); // title, header, rule, rows

        // Aligned to the WordNet reference as the host's graphs are; started from it on request; nonsense refused.
        Assert.True(graph.GetProperty("aligned").GetBoolean());
        var (code4, stdout4, stderr4) = Run("graph", "--data", fixture.Data.Path, "--imagenet", TestPaths.ImageNet, "--model", model, "--init", "reference", "--json");
        Assert.True(code4 == 0, stderr4);
        var started = JsonDocument.Parse(stdout4).RootElement;
        Assert.Equal("reference", started.GetProperty("init").GetString());
        Assert.NotEqual(points[0].GetProperty("x").GetDouble(), started.GetProperty("points")[0].GetProperty("x").GetDouble());
        var (code5, _, stderr5) = Run("graph", "--data", fixture.Data.Path, "--imagenet", TestPaths.ImageNet, "--model", model, "--init", "pca");
        Assert.NotEqual(0, code5);
        Assert.Contains("--init must be random or reference", stderr5);
    }

    [Fact]
    public void Accuracy_json_matches_independent_counts_and_compares_the_models()
    {
        var (code, stdout, stderr) = Run("accuracy", "--data", fixture.Data.Path, "--imagenet", TestPaths.ImageNet, "--json");
        Assert.True(code == 0, stderr);
        var doc = JsonDocument.Parse(stdout).RootElement;
        var models = doc.GetProperty("models").EnumerateArray().ToList();
        Assert.Equal(EvaluatedDataFixture.Models.Order(), models.Select(m => m.GetProperty("id").GetString()).Order());
        var top1 = new Dictionary<string, Dictionary<int, double>>();
        foreach (var m in models)
        {
            string id = m.GetProperty("id").GetString()!;
            var (p, labels, n) = Stored(id);
            int correct = Enumerable.Range(0, labels.Length).Count(i => ArgMax(p, i, n) == labels[i]);
            Assert.Equal(correct / (double)labels.Length, m.GetProperty("top1").GetDouble(), 9);
            var perClass = m.GetProperty("classes").EnumerateArray().ToList();
            Assert.Equal(labels.Distinct().Count(), perClass.Count);
            top1[id] = perClass.ToDictionary(c => c.GetProperty("index").GetInt32(), c => c.GetProperty("top1").GetDouble());
        }
        var range = doc.GetProperty("range").GetProperty("classes").EnumerateArray().ToList();
        Assert.Equal(6, range.Count);
        var (a, b) = (EvaluatedDataFixture.Models[0], EvaluatedDataFixture.Models[1]);
        double thirdLargest = top1[a].Keys.Select(c => Math.Abs(top1[a][c] - top1[b][c])).OrderDescending().ElementAt(2);
        Assert.All(range.Where(c => c.GetProperty("kind").GetString() == "diverging"),
            c => Assert.True(c.GetProperty("range").GetDouble() >= thirdLargest));
        var agreement = doc.GetProperty("agreement").GetProperty("matrix");
        Assert.Equal(1, agreement[1][1].GetDouble());

        var (code2, human, _) = Run("accuracy", "--data", fixture.Data.Path, "--imagenet", TestPaths.ImageNet, "--model", a);
        Assert.Equal(0, code2);
        Assert.Contains("Per class", human);
        Assert.Contains(a, human);
        Assert.DoesNotContain("Range of class accuracy", human);
    }

    [Theory]
    [InlineData("graph --imagenet {imagenet} --model x", "--data")]
    [InlineData("graph --data /nonexistent --imagenet {imagenet} --model x", "/nonexistent")]
    [InlineData("graph --data {data} --imagenet {imagenet}", "--model")]
    [InlineData("graph --data {data} --imagenet {imagenet} --model no_such_model", "no_such_model")]
    [InlineData("graph --data {data} --imagenet {imagenet} --model mobilenet_v1_0.25_128_quant --perplexity -2", "perplexity")]
    [InlineData("graph --data {data} --imagenet {imagenet} --model mobilenet_v1_0.25_128_quant --perplexity many", "--perplexity")]
    [InlineData("accuracy --data {data} --imagenet /nonexistent", "--imagenet")]
    [InlineData("accuracy --data {data} --imagenet {imagenet} --model a --model a", "twice")]
    [InlineData("accuracy --data {data} --imagenet {imagenet} --frobnicate 1", "--frobnicate")]
    public void Bad_input_gives_a_one_line_error_and_a_nonzero_exit_code(string commandLine, string mentioned)
    {
        var args = commandLine.Split(' ').Select(a => a.Replace("{data}", fixture.Data.Path).Replace("{imagenet}", TestPaths.ImageNet)).ToArray();
        VaccnnProcess.AssertOneLineError(Run(args), mentioned);
    }
}
