using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using VacCnn.Engine;
using VacCnn.Engine.Jobs;
using VacCnn.Engine.Store;

namespace VacCnn.Web.Tests;

/// <summary>
/// The analytics API against real evaluations of two models on the fixture's 20 images, checked against independent
/// counts over the stored .npy files. One model is evaluated outside the jobs, so its graph is first "pending" and
/// then computed by the job the request queued; the other goes through the jobs, which chain the analytics.
/// </summary>
[Collection(WebCollection.Name)]
public sealed class AnalyticsApiTests(WebAppFixture app)
{
    private const string Direct = "mobilenet_v1_0.25_128_quant";
    private const string ViaJobs = "mobilenet_v1_0.5_160_quant";
    private const string NeverEvaluated = "squeezenet_v1.1_int8";
    private static readonly SemaphoreSlim Once = new(1, 1);
    private static bool _evaluated;

    private HttpClient Client() => app.Factory.CreateClient();

    private static async Task<JsonElement> Get(HttpClient client, string url, HttpStatusCode expected = HttpStatusCode.OK)
    {
        var response = await client.GetAsync(url);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"{url}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>Independent counts over a run's stored files.</summary>
    private sealed record Stored(float[] P, int[] Labels, int[] Images, int N)
    {
        public int ArgMax(int row)
        {
            int best = 0;
            for (int j = 1; j < N; j++) if (P[row * N + j] > P[row * N + best]) best = j;
            return best;
        }

        public double Top1(int cls)
        {
            var rows = Enumerable.Range(0, Labels.Length).Where(i => Labels[i] == cls).ToList();
            return rows.Count(i => ArgMax(i) == cls) / (double)rows.Count;
        }
    }

    private Stored Load(string model)
    {
        var store = new ResultStore(app.DataDir);
        var run = store.ListRuns().Single(r => r.ModelId == model && r.State == RunStates.Done);
        var (p, shape) = Npy.ReadFloats(store.ConfidencePath(run.RunId));
        return new Stored(p, Npy.ReadInts(store.LabelsPath(run.RunId)).Data, Npy.ReadInts(store.ImageIndexPath(run.RunId)).Data, shape[1]);
    }

    /// <summary>Evaluates both models once per test run; returns the "pending" answer seen for the direct one.</summary>
    private async Task EnsureEvaluated()
    {
        await Once.WaitAsync();
        try
        {
            if (_evaluated) return;
            var services = app.Factory.Services;
            var engine = services.GetRequiredService<VacCnnEngine>();
            using var client = Client();
            // Not evaluated yet: the graph says so (and queues nothing).
            var before = await Get(client, $"/api/models/{Direct}/graph");
            Assert.Equal("not-evaluated", before.GetProperty("status").GetString());

            // Evaluated in-process, outside the jobs: nobody has computed its graph, so the first request says
            // "pending" and queues the job; polling then sees it ready.
            engine.Evaluation.Evaluate(Direct, services.GetRequiredService<ImageSetProvider>().Current());
            var pending = await Get(client, $"/api/models/{Direct}/graph");
            Assert.Equal("pending", pending.GetProperty("status").GetString());
            Assert.Equal(0, pending.GetProperty("points").GetArrayLength());
            await WaitReady(client, Direct);

            services.GetRequiredService<EvaluationJobs>().EvaluateModel(ViaJobs);
            await WaitReady(client, ViaJobs);
            _evaluated = true;
        }
        finally { Once.Release(); }
    }

    private static async Task WaitReady(HttpClient client, string model)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        string? status = null;
        while (DateTime.UtcNow < deadline)
        {
            status = (await Get(client, $"/api/models/{model}/graph")).GetProperty("status").GetString();
            if (status == "ready") return;
            await Task.Delay(250);
        }
        Assert.Fail($"graph of {model} still '{status}' after 120 s");
    }

    [Fact]
    public async Task Classes_lists_every_class_with_its_root()
    {
        using var client = Client();
        var classes = await Get(client, "/api/classes");
        Assert.Equal(1000, classes.GetArrayLength());
        Assert.Equal("n01440764", classes[0].GetProperty("wnid").GetString());
        Assert.Equal("tench", classes[0].GetProperty("name").GetString());
        Assert.Equal("animal", classes[0].GetProperty("root").GetString());
        Assert.Equal(999, classes[999].GetProperty("index").GetInt32());
    }

    [Fact]
    public async Task Graph_has_one_point_per_class_with_images_and_the_models_accuracy_on_it()
    {
        await EnsureEvaluated();
        using var client = Client();
        foreach (string model in new[] { Direct, ViaJobs })
        {
            var stored = Load(model);
            var graph = await Get(client, $"/api/models/{model}/graph");
            Assert.Equal(model, graph.GetProperty("model").GetString());
            Assert.Equal("ready", graph.GetProperty("status").GetString());
            Assert.Equal(0, graph.GetProperty("seed").GetInt32());
            Assert.True(graph.GetProperty("kl").GetDouble() > 0);
            double perplexity = graph.GetProperty("perplexity").GetDouble();
            var withImages = stored.Labels.Distinct().Order().ToList();
            Assert.Equal(Math.Min(5, (withImages.Count - 1) / 3.0), perplexity, 9);
            var points = graph.GetProperty("points").EnumerateArray().ToList();
            Assert.Equal(withImages, points.Select(p => p.GetProperty("index").GetInt32()).Order());
            Assert.Equal(1000 - withImages.Count, graph.GetProperty("missing").GetArrayLength());
            foreach (var p in points)
            {
                int cls = p.GetProperty("index").GetInt32();
                Assert.Equal(stored.Top1(cls), p.GetProperty("accuracy").GetDouble(), 9);
                Assert.True(double.IsFinite(p.GetProperty("x").GetDouble()) && double.IsFinite(p.GetProperty("y").GetDouble()));
                Assert.False(string.IsNullOrEmpty(p.GetProperty("root").GetString()));
                Assert.StartsWith("n", p.GetProperty("wnid").GetString());
            }
        }
        var never = await Get(client, $"/api/models/{NeverEvaluated}/graph");
        Assert.Equal("not-evaluated", never.GetProperty("status").GetString());
        await Get(client, "/api/models/no_such_model/graph", HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Overview_and_per_class_accuracy_match_independent_counts()
    {
        await EnsureEvaluated();
        using var client = Client();
        var overview = await Get(client, "/api/overview");
        Assert.Equal(["animal", "artifact", "natural object", "geological formation", "person", "plant", "fungus", "MISC"],
            overview.GetProperty("roots").EnumerateArray().Select(r => r.GetString()));
        var models = overview.GetProperty("models").EnumerateArray().ToDictionary(m => m.GetProperty("id").GetString()!);
        var stored = Load(Direct);
        var direct = models[Direct];
        Assert.True(direct.GetProperty("evaluated").GetBoolean());
        int correct = Enumerable.Range(0, stored.Labels.Length).Count(i => stored.ArgMax(i) == stored.Labels[i]);
        Assert.Equal(correct / (double)stored.Labels.Length, direct.GetProperty("top1").GetDouble(), 9);
        Assert.Equal(stored.Labels.Length, direct.GetProperty("images").GetInt32());
        Assert.True(direct.GetProperty("parameters").GetInt64() > 0 && direct.GetProperty("macs").GetInt64() > 0);
        Assert.Equal(2.0 * direct.GetProperty("macs").GetInt64() / 1e9, direct.GetProperty("gflops").GetDouble(), 9);
        Assert.Equal(JsonValueKind.Object, direct.GetProperty("perRoot").ValueKind);
        var never = models[NeverEvaluated];
        Assert.False(never.GetProperty("evaluated").GetBoolean());
        Assert.Equal(JsonValueKind.Null, never.GetProperty("top1").ValueKind);

        var table = await Get(client, $"/api/models/{Direct}/classes");
        Assert.Equal(Direct, table.GetProperty("model").GetString());
        var rows = table.GetProperty("classes").EnumerateArray().ToList();
        Assert.Equal(stored.Labels.Distinct().Count(), rows.Count);
        for (int k = 0; k < rows.Count; k++)
        {
            int cls = rows[k].GetProperty("index").GetInt32();
            Assert.Equal(stored.Top1(cls), rows[k].GetProperty("top1").GetDouble(), 9);
            Assert.Equal(stored.Labels.Count(l => l == cls), rows[k].GetProperty("images").GetInt32());
            if (k > 0) Assert.True(rows[k - 1].GetProperty("top1").GetDouble() >= rows[k].GetProperty("top1").GetDouble());
        }
        await Get(client, "/api/models/no_such_model/classes", HttpStatusCode.NotFound);

        // One root class's leaves (the bars of a pinned root): exactly the evaluated classes of that root.
        var animals = await Get(client, $"/api/models/{Direct}/classes?root=animal");
        var expected = stored.Labels.Distinct().Where(c => rows.Any(r => r.GetProperty("index").GetInt32() == c && r.GetProperty("root").GetString() == "animal")).Order();
        Assert.Equal(expected, animals.GetProperty("classes").EnumerateArray().Select(c => c.GetProperty("index").GetInt32()).Order());
        Assert.All(animals.GetProperty("classes").EnumerateArray(), c => Assert.Equal("animal", c.GetProperty("root").GetString()));
        await Get(client, $"/api/models/{Direct}/classes?root=vegetable", HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Range_average_and_agreement_compare_the_selected_models()
    {
        await EnsureEvaluated();
        using var client = Client();
        var a = Load(Direct);
        var b = Load(ViaJobs);
        string both = $"{Direct},{ViaJobs}";

        var range = await Get(client, $"/api/compare/range?models={both}");
        Assert.Contains("max", range.GetProperty("rule").GetString());
        var picked = range.GetProperty("classes").EnumerateArray().ToList();
        Assert.Equal(6, picked.Count);
        Assert.Equal(["diverging", "diverging", "diverging", "parallel", "parallel", "parallel"], picked.Select(c => c.GetProperty("kind").GetString()));
        foreach (var c in picked)
        {
            int cls = c.GetProperty("index").GetInt32();
            var acc = c.GetProperty("accuracies");
            Assert.Equal(a.Top1(cls), acc.GetProperty(Direct).GetDouble(), 9);
            Assert.Equal(b.Top1(cls), acc.GetProperty(ViaJobs).GetDouble(), 9);
        }
        // The diverging classes have the largest |difference| of all shared classes.
        var shared = a.Labels.Distinct().Intersect(b.Labels.Distinct()).ToList();
        double thirdLargest = shared.Select(c => Math.Abs(a.Top1(c) - b.Top1(c))).OrderDescending().ElementAt(2);
        Assert.All(picked.Take(3), c => Assert.True(c.GetProperty("range").GetDouble() >= thirdLargest));

        var average = await Get(client, $"/api/compare/average?models={both}");
        var avg = average.GetProperty("classes").EnumerateArray().ToList();
        Assert.Equal(["highest", "highest", "highest", "lowest", "lowest", "lowest"], avg.Select(c => c.GetProperty("kind").GetString()));
        double thirdHighest = shared.Select(c => (a.Top1(c) + b.Top1(c)) / 2).OrderDescending().ElementAt(2);
        Assert.All(avg.Take(3), c => Assert.True(c.GetProperty("mean").GetDouble() >= thirdHighest));

        var agreement = await Get(client, $"/api/compare/agreement?models={both}");
        Assert.Equal([Direct, ViaJobs], agreement.GetProperty("models").EnumerateArray().Select(m => m.GetString()));
        var matrix = agreement.GetProperty("matrix");
        Assert.Equal(1, matrix[0][0].GetDouble());
        var topA = Enumerable.Range(0, a.Labels.Length).ToDictionary(i => a.Images[i], a.ArgMax);
        var topB = Enumerable.Range(0, b.Labels.Length).ToDictionary(i => b.Images[i], b.ArgMax);
        var common = topA.Keys.Intersect(topB.Keys).ToList();
        Assert.Equal(common.Count(i => topA[i] == topB[i]) / (double)common.Count, matrix[0][1].GetDouble(), 12);
        Assert.Equal(matrix[0][1].GetDouble(), matrix[1][0].GetDouble());

        await Get(client, "/api/compare/range?models=no_such_model", HttpStatusCode.NotFound);
        await Get(client, $"/api/compare/range?models={Direct},{Direct}", HttpStatusCode.BadRequest);
        var withUnevaluated = await Get(client, $"/api/compare/average?models={Direct},{NeverEvaluated}");
        Assert.Equal([NeverEvaluated], withUnevaluated.GetProperty("notEvaluated").EnumerateArray().Select(m => m.GetString()));
    }

    [Fact]
    public async Task Confusions_of_a_class_match_an_independent_count_and_bad_parameters_are_400()
    {
        await EnsureEvaluated();
        using var client = Client();
        var stored = Load(Direct);
        int cls = stored.Labels[0];
        var answer = await Get(client, $"/api/models/{Direct}/confusions?class={cls}&top=3");
        Assert.Equal(cls, answer.GetProperty("class").GetInt32());
        Assert.Equal("ready", answer.GetProperty("status").GetString());
        var list = answer.GetProperty("confusions").EnumerateArray().ToList();
        Assert.Equal(3, list.Count);
        var rows = Enumerable.Range(0, stored.Labels.Length).Where(i => stored.Labels[i] == cls).ToList();
        // Independent: every other class by (share of top-1, mean probability), best first.
        var expected = Enumerable.Range(0, stored.N).Where(j => j != cls)
            .Select(j => (j, share: rows.Count(i => stored.ArgMax(i) == j) / (double)rows.Count, mean: rows.Average(i => (double)stored.P[i * stored.N + j])))
            .OrderByDescending(t => t.share).ThenByDescending(t => t.mean).Take(3).ToList();
        Assert.Equal(expected.Select(t => t.j), list.Select(c => c.GetProperty("index").GetInt32()));
        for (int k = 0; k < 3; k++)
        {
            Assert.Equal(expected[k].share, list[k].GetProperty("share").GetDouble(), 12);
            Assert.Equal(expected[k].mean, list[k].GetProperty("meanConfidence").GetDouble(), 5);
            Assert.False(string.IsNullOrEmpty(list[k].GetProperty("name").GetString()));
        }

        await Get(client, $"/api/models/{Direct}/confusions", HttpStatusCode.BadRequest);
        await Get(client, $"/api/models/{Direct}/confusions?class=abc", HttpStatusCode.BadRequest);
        await Get(client, $"/api/models/{Direct}/confusions?class=1000", HttpStatusCode.BadRequest);
        await Get(client, $"/api/models/{Direct}/confusions?class=1&top=0", HttpStatusCode.BadRequest);
        await Get(client, $"/api/models/no_such_model/confusions?class=1", HttpStatusCode.NotFound);
        int without = Enumerable.Range(0, 1000).First(c => !stored.Labels.Contains(c));
        var empty = await Get(client, $"/api/models/{Direct}/confusions?class={without}");
        Assert.Equal(0, empty.GetProperty("images").GetInt32());
        Assert.Equal(0, empty.GetProperty("confusions").GetArrayLength());
    }

    // Algorithm 1 by hand over the stored files: D[r, j] = mean over r's images of (1 − P[i, j]), then (D + Dᵀ) / 2.
    private static Dictionary<(int, int), double> NaiveDistances(Stored s)
    {
        var classes = s.Labels.Distinct().ToList();
        var half = new Dictionary<(int, int), double>();
        foreach (int r in classes)
        {
            var rows = Enumerable.Range(0, s.Labels.Length).Where(i => s.Labels[i] == r).ToList();
            foreach (int j in classes) half[(r, j)] = rows.Average(i => 1.0 - s.P[i * s.N + j]);
        }
        return classes.SelectMany(r => classes.Select(j => (r, j))).ToDictionary(t => t, t => (half[t] + half[(t.j, t.r)]) / 2);
    }

    // The k nearest other classes, or null when the k-th and (k+1)-th are tied (either answer would be right).
    private static int[]? NaiveNearest(Dictionary<(int, int), double> d, IReadOnlyCollection<int> classes, int cls, int k)
    {
        var sorted = classes.Where(c => c != cls).OrderBy(c => d[(cls, c)]).ToList();
        if (sorted.Count > k && Math.Abs(d[(cls, sorted[k - 1])] - d[(cls, sorted[k])]) < 1e-6) return null;
        return sorted.Take(k).ToArray();
    }

    [Fact]
    public async Task Comparing_two_graphs_lists_the_classes_whose_neighbourhoods_differ_most()
    {
        await EnsureEvaluated();
        using var client = Client();
        var (sa, sb) = (Load(Direct), Load(ViaJobs));
        var answer = await Get(client, $"/api/compare/graphs?a={Direct}&b={ViaJobs}&top=1000");
        Assert.Equal("ready", answer.GetProperty("status").GetString());
        Assert.Equal(Direct, answer.GetProperty("a").GetProperty("model").GetString());
        Assert.Equal(ViaJobs, answer.GetProperty("b").GetProperty("model").GetString());
        Assert.Equal("random", answer.GetProperty("a").GetProperty("init").GetString());
        Assert.False(string.IsNullOrEmpty(answer.GetProperty("rule").GetString()));

        // Every class with images is compared; each row against the naive nearest classes of both models' matrices.
        var classes = sa.Labels.Distinct().ToList();
        int k = answer.GetProperty("k").GetInt32();
        Assert.Equal(Math.Min(10, classes.Count - 1), Math.Min(k, classes.Count - 1));
        Assert.Equal(classes.Count, answer.GetProperty("compared").GetInt32());
        var rows = answer.GetProperty("classes").EnumerateArray().ToList();
        Assert.Equal(classes.Order(), rows.Select(r => r.GetProperty("index").GetInt32()).Order());
        var jaccards = rows.Select(r => r.GetProperty("jaccard").GetDouble()).ToList();
        Assert.Equal(jaccards.Order(), jaccards);
        Assert.Equal(jaccards.Average(), answer.GetProperty("meanJaccard").GetDouble(), 9);
        var (da, db) = (NaiveDistances(sa), NaiveDistances(sb));
        int kk = Math.Min(k, classes.Count - 1), exactRows = 0;
        int[] Indices(JsonElement row, string list) => row.GetProperty(list).EnumerateArray().Select(c => c.GetProperty("index").GetInt32()).ToArray();
        foreach (var row in rows)
        {
            int cls = row.GetProperty("index").GetInt32();
            int[] ra = [.. Indices(row, "shared"), .. Indices(row, "onlyA")], rb = [.. Indices(row, "shared"), .. Indices(row, "onlyB")];
            // Always: k classes, none farther than the naive k-th nearest (quantised models tie a lot on 20 images).
            foreach (var (reported, d) in new[] { (ra, da), (rb, db) })
            {
                Assert.Equal(kk, reported.Length);
                double kth = classes.Where(c => c != cls).Select(c => d[(cls, c)]).Order().ElementAt(kk - 1);
                Assert.All(reported, c => Assert.True(d[(cls, c)] <= kth + 1e-6, $"class {cls}: neighbour {c} is farther than the {kk}-th nearest"));
            }
            Assert.Equal((double)ra.Intersect(rb).Count() / ra.Union(rb).Count(), row.GetProperty("jaccard").GetDouble(), 12);
            // Where the k-th nearest is not tied, exactly the naive sets.
            var (na, nb) = (NaiveNearest(da, classes, cls, kk), NaiveNearest(db, classes, cls, kk));
            if (na == null || nb == null) continue;
            exactRows++;
            Assert.Equal(na.Order(), ra.Order());
            Assert.Equal(nb.Order(), rb.Order());
        }
        Assert.True(exactRows > 0, "every row is tied at the k-th neighbour");

        // top cuts the list; class adds that class's own row wherever it ranks.
        var top3 = await Get(client, $"/api/compare/graphs?a={Direct}&b={ViaJobs}&top=3&class={rows[^1].GetProperty("index").GetInt32()}");
        Assert.Equal(3, top3.GetProperty("classes").GetArrayLength());
        Assert.Equal(rows[^1].GetProperty("index").GetInt32(), top3.GetProperty("focus").GetProperty("index").GetInt32());
        int without = Enumerable.Range(0, 1000).First(c => !classes.Contains(c));
        Assert.Equal(JsonValueKind.Null, (await Get(client, $"/api/compare/graphs?a={Direct}&b={ViaJobs}&class={without}")).GetProperty("focus").ValueKind);

        // Started from the WordNet layout: computed in the background on request (pending, then ready), cached apart.
        string url = $"/api/compare/graphs?a={Direct}&b={ViaJobs}&init=reference";
        var first = await Get(client, url);
        Assert.Contains(first.GetProperty("status").GetString(), new[] { "pending", "ready" });
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (first.GetProperty("status").GetString() != "ready" && DateTime.UtcNow < deadline)
        {
            await Task.Delay(250);
            first = await Get(client, url);
        }
        Assert.Equal("ready", first.GetProperty("status").GetString());
        Assert.Equal("reference", first.GetProperty("b").GetProperty("init").GetString());
        Assert.NotEqual(answer.GetProperty("a").GetProperty("points")[0].GetProperty("x").GetDouble(),
            first.GetProperty("a").GetProperty("points")[0].GetProperty("x").GetDouble());

        var never = await Get(client, $"/api/compare/graphs?a={Direct}&b={NeverEvaluated}");
        Assert.Equal("not-evaluated", never.GetProperty("status").GetString());
        Assert.Equal(0, never.GetProperty("classes").GetArrayLength());
        await Get(client, $"/api/compare/graphs?a={Direct}&b={Direct}", HttpStatusCode.BadRequest);
        await Get(client, $"/api/compare/graphs?b={Direct}", HttpStatusCode.BadRequest);
        await Get(client, $"/api/compare/graphs?a={Direct}&b={ViaJobs}&perplexity=0", HttpStatusCode.BadRequest);
        await Get(client, $"/api/compare/graphs?a={Direct}&b={ViaJobs}&top=0", HttpStatusCode.BadRequest);
        await Get(client, $"/api/compare/graphs?a={Direct}&b={ViaJobs}&init=pca", HttpStatusCode.BadRequest);
        await Get(client, $"/api/compare/graphs?a={Direct}&b={ViaJobs}&class=1000", HttpStatusCode.BadRequest);
        await Get(client, $"/api/compare/graphs?a={Direct}&b=no_such_model", HttpStatusCode.NotFound);
    }
}
