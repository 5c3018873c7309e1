using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using VacCnn.Engine;
using VacCnn.Engine.Explanations;
using VacCnn.TestSupport;

namespace VacCnn.Web.Tests;

/// <summary>
/// A host over three real small models (symbolic links into ../shared/data/models), four real photos, a labelled
/// photo that is a symbolic link leading out of the images root, and a temporary data folder.
/// </summary>
public sealed class ExplanationWebFixture : IDisposable
{
    public static readonly string[] ModelIds = ["mobilenet_v1_0.25_128_quant", "mobilenet_v1_0.5_160_quant", "mobilenet_v1_0.75_192_quant"];
    public const string Small = "mobilenet_v1_0.25_128_quant";
    public const string Goldfish = "n01443537_goldfish.JPEG";
    public const string Escape = "n01440764_escape.JPEG";
    public const string Broken = "n01494475_broken.JPEG";

    private readonly TempDir _models = new("vaccnn-xweb-models");
    private readonly TempDir _images = new("vaccnn-xweb-images");
    private readonly TempDir _outside = new("vaccnn-xweb-outside");
    private readonly List<IDisposable> _extra = [];

    public ExplanationWebFixture()
    {
        foreach (string id in ModelIds) Directory.CreateSymbolicLink(_models.Combine(id), Path.Combine(TestPaths.Models, id));
        foreach (string name in new[] { Goldfish, "n02007558_flamingo.JPEG", "n01440764_tench.JPEG", "n01608432_kite.JPEG" })
            File.Copy(Path.Combine(TestPaths.ImageNetSamples, name), _images.Combine(name));
        // A damaged photo of the set: the first 5000 bytes of a real JPEG (header intact, data cut off).
        File.WriteAllBytes(_images.Combine(Broken), File.ReadAllBytes(Path.Combine(TestPaths.ImageNetSamples, Goldfish))[..5000]);
        File.Copy(Path.Combine(TestPaths.ImageNetSamples, "n01484850_great_white_shark.JPEG"), _outside.Combine("secret.JPEG"));
        File.CreateSymbolicLink(_images.Combine(Escape), _outside.Combine("secret.JPEG"));
        Factory = Create(capacity: 32, models: _models.Path, data: Data.Path);
    }

    public TempDir Data { get; } = new("vaccnn-xweb-data");
    public string ImagesRoot => _images.Path;
    public string ModelsRoot => _models.Path;
    public string OutsideFile => _outside.Combine("secret.JPEG");
    public WebApplicationFactory<Program> Factory { get; }

    /// <summary>Another host over the same images, with its own data folder, queue size and further settings.</summary>
    public WebApplicationFactory<Program> Create(int capacity, string models, string data, IReadOnlyDictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["VacCnn:Models"] = models,
            ["VacCnn:Images"] = _images.Path,
            ["VacCnn:ImageNet"] = TestPaths.ImageNet,
            ["VacCnn:Data"] = data,
            ["VacCnn:Plugins"] = TestPaths.Plugins,
            ["VacCnn:Device"] = "Cpu",
            ["VacCnn:ExplanationQueueCapacity"] = capacity.ToString(CultureInfo.InvariantCulture),
            ["VacCnn:ExplanationWorkers"] = "1",
        };
        foreach (var (k, v) in extra ?? new Dictionary<string, string?>()) settings[k] = v;
        var f = WebAppFixture.CreateFactory(settings);
        _extra.Add(f);
        return f;
    }

    public ExplanationService Service => Factory.Services.GetRequiredService<ExplanationService>();

    public void Dispose()
    {
        foreach (var f in _extra) f.Dispose();
        _models.Dispose();
        _images.Dispose();
        _outside.Dispose();
        Data.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class ExplanationWebCollection : ICollectionFixture<ExplanationWebFixture>
{
    public const string Name = "explanation-web";
}

[Collection(ExplanationWebCollection.Name)]
public sealed class ExplanationApiTests(ExplanationWebFixture app)
{
    private const string Small = ExplanationWebFixture.Small;
    private const string Goldfish = ExplanationWebFixture.Goldfish;

    private HttpClient Client() => app.Factory.CreateClient();

    internal static async Task<JsonElement> Json(HttpResponseMessage r) =>
        JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.Clone();

    /// <summary>Polls as a browser would (202 → wait retryAfterMs → ask again) until the answer is not 202.</summary>
    internal static async Task<HttpResponseMessage> UntilDone(HttpClient client, string url)
    {
        for (int i = 0; i < 600; i++)
        {
            var r = await client.GetAsync(url);
            if (r.StatusCode != HttpStatusCode.Accepted) return r;
            var body = await Json(r);
            Assert.InRange(body.GetProperty("progress").GetDouble(), 0, 1);
            await Task.Delay(Math.Clamp(body.GetProperty("retryAfterMs").GetInt32(), 50, 1000));
        }
        throw new TimeoutException(url);
    }

    private static string ExplainUrl(string model, string image, string method, string extra = "") =>
        $"/api/explanations?model={model}&image={Uri.EscapeDataString(image)}&method={method}{extra}";

    [Fact]
    public async Task Explainers_and_metrics_are_listed_with_their_settings()
    {
        using var client = Client();
        var explainers = await Json(await client.GetAsync("/api/explainers"));
        var ids = explainers.EnumerateArray().Select(e => e.GetProperty("id").GetString()).ToList();
        Assert.Equal(["ablationcam", "bbmp", "eigencam", "gradcam", "gradcampp", "gradinput", "hirescam", "integratedgradients", "layercam", "scorecam", "smoothgrad", "smoothgradcampp", "xgradcam"], ids.Order().ToList());
        var samples = explainers.EnumerateArray().Single(e => e.GetProperty("id").GetString() == "smoothgradcampp")
            .GetProperty("settings").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "samples");
        Assert.Equal(25, samples.GetProperty("default").GetDouble());
        Assert.Equal(1, samples.GetProperty("min").GetDouble());
        Assert.Equal(500, samples.GetProperty("max").GetDouble());
        Assert.False(string.IsNullOrWhiteSpace(samples.GetProperty("description").GetString()));
        var metrics = await Json(await client.GetAsync("/api/metrics"));
        Assert.Equal(["l1", "mse", "phash", "ssim"], metrics.EnumerateArray().Select(m => m.GetProperty("id").GetString()!).Order().ToList());
        Assert.All(metrics.EnumerateArray(), m => Assert.False(string.IsNullOrWhiteSpace(m.GetProperty("displayName").GetString())));
    }

    [Fact]
    public async Task Images_are_listed_by_class_served_and_thumbnailed()
    {
        using var client = Client();
        var all = await Json(await client.GetAsync("/api/images"));
        var ids = all.EnumerateArray().Select(i => i.GetProperty("id").GetString()).ToList();
        Assert.Equal(5, ids.Count); // the escaping symlink is labelled but not offered
        Assert.DoesNotContain(ExplanationWebFixture.Escape, ids);

        var goldfish = Assert.Single((await Json(await client.GetAsync("/api/images?class=1"))).EnumerateArray());
        Assert.Equal(Goldfish, goldfish.GetProperty("id").GetString());
        Assert.Equal("n01443537", goldfish.GetProperty("wnid").GetString());
        Assert.Equal(1, goldfish.GetProperty("classIndex").GetInt32());
        var info = Image.Identify(Path.Combine(app.ImagesRoot, Goldfish));
        Assert.Equal(info.Width, goldfish.GetProperty("width").GetInt32());
        Assert.Equal(info.Height, goldfish.GetProperty("height").GetInt32());

        var file = await client.GetAsync($"/api/images/{Uri.EscapeDataString(Goldfish)}/file");
        Assert.Equal(HttpStatusCode.OK, file.StatusCode);
        Assert.Equal("image/jpeg", file.Content.Headers.ContentType?.MediaType);
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(app.ImagesRoot, Goldfish)), await file.Content.ReadAsByteArrayAsync());

        var thumb = await client.GetAsync($"/api/images/{Goldfish}/thumb?size=64");
        Assert.Equal(HttpStatusCode.OK, thumb.StatusCode);
        using (var t = Image.Load<Rgb24>(await thumb.Content.ReadAsByteArrayAsync()))
            Assert.Equal((64, (int)Math.Round(64.0 * info.Height / info.Width)), (t.Width, t.Height));
        Assert.Single(Directory.GetFiles(Path.Combine(app.Data.Path, "thumbnails"), "*-64.jpg"));
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync($"/api/images/{Goldfish}/thumb?size=5000")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/api/images?class=1000")).StatusCode);
    }

    [Theory]
    [InlineData("..%2F..%2F..%2Fetc%2Fpasswd")]
    [InlineData("%2Fetc%2Fpasswd")]
    [InlineData("..")]
    [InlineData("n01440764_escape.JPEG")]
    [InlineData("n01443537_missing.JPEG")]
    public async Task Image_ids_outside_the_root_are_not_found(string encodedId)
    {
        using var client = Client();
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/images/{encodedId}/file")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/images/{encodedId}/thumb")).StatusCode);
        var r = await client.GetAsync($"/api/explanations?model={Small}&method=gradcam&image={encodedId}");
        Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        Assert.Contains("image", (await Json(r)).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Absolute_paths_are_not_found()
    {
        using var client = Client();
        var r = await client.GetAsync($"/api/explanations?model={Small}&method=gradcam&image={Uri.EscapeDataString(app.OutsideFile)}");
        Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
    }

    [Theory]
    [InlineData("&class=1000", "0..999")]
    [InlineData("&class=abc", "class must be a whole number")]
    [InlineData("&layer=no_such_layer", "no_such_layer")]
    [InlineData("&frobnicate=1", "no setting 'frobnicate'")]
    [InlineData("&seed=x", "seed")]
    public async Task Bad_parameters_give_400_with_a_message(string extra, string mentioned)
    {
        using var client = Client();
        var r = await client.GetAsync(ExplainUrl(Small, Goldfish, "gradcam", extra));
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.Contains(mentioned, (await Json(r)).GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("/api/explanations?model=mobilenet_v1_0.25_128_quant&image=n01443537_goldfish.JPEG&method=smoothgradcampp&samples=0", 400, "between 1 and 500")]
    [InlineData("/api/explanations?model=mobilenet_v1_0.25_128_quant&image=n01443537_goldfish.JPEG&method=smoothgradcampp&samples=501", 400, "between 1 and 500")]
    [InlineData("/api/explanations?model=mobilenet_v1_0.25_128_quant&image=n01443537_goldfish.JPEG&method=scorecam&channels=9000", 400, "channels")]
    [InlineData("/api/explanations?model=mobilenet_v1_0.25_128_quant&image=n01443537_goldfish.JPEG&method=bbmp&iterations=5001", 400, "iterations")]
    [InlineData("/api/explanations/png?model=mobilenet_v1_0.25_128_quant&image=n01443537_goldfish.JPEG&method=gradcam&threshold=1.5", 400, "threshold")]
    [InlineData("/api/histogram?model=mobilenet_v1_0.25_128_quant&image=n01443537_goldfish.JPEG&method=gradcam&threshold=-0.1", 400, "threshold")]
    [InlineData("/api/histogram?model=mobilenet_v1_0.25_128_quant&image=n01443537_goldfish.JPEG&method=gradcam&bins=0", 400, "bins")]
    [InlineData("/api/explanations?model=nope&image=n01443537_goldfish.JPEG&method=gradcam", 404, "nope")]
    [InlineData("/api/explanations?model=mobilenet_v1_0.25_128_quant&image=n01443537_goldfish.JPEG&method=magic", 404, "magic")]
    [InlineData("/api/explanations?model=mobilenet_v1_0.25_128_quant&method=gradcam", 400, "image")]
    [InlineData("/api/similarity?models=mobilenet_v1_0.25_128_quant&image=n01443537_goldfish.JPEG&method=gradcam&metric=cosine", 404, "cosine")]
    [InlineData("/api/similarity?models=&image=n01443537_goldfish.JPEG&method=gradcam&metric=ssim", 400, "models")]
    [InlineData("/api/similarity?models=mobilenet_v1_0.25_128_quant,mobilenet_v1_0.25_128_quant&image=n01443537_goldfish.JPEG&method=gradcam&metric=ssim", 400, "twice")]
    public async Task Out_of_range_settings_and_unknown_things_are_refused(string url, int status, string mentioned)
    {
        using var client = Client();
        int waiting = app.Service.Scheduler.Waiting;
        var r = await client.GetAsync(url);
        Assert.Equal(status, (int)r.StatusCode);
        Assert.Contains(mentioned, (await Json(r)).GetProperty("detail").GetString());
        Assert.Equal(waiting, app.Service.Scheduler.Waiting);
    }

    [Fact]
    public async Task Too_many_models_are_refused()
    {
        using var client = Client();
        string models = string.Join(",", Enumerable.Range(0, 65).Select(i => $"m{i}"));
        var r = await client.GetAsync($"/api/similarity?models={models}&image={Goldfish}&method=gradcam&metric=ssim");
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.Contains("at most 64", (await Json(r)).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task With_wait_an_uncached_explanation_is_answered_in_one_request_and_says_who_computed_it()
    {
        using var client = Client();
        // Grad-CAM (interactive lane) for a class no other test asks: uncached.
        var r = await client.GetAsync(ExplainUrl(Small, "n01608432_kite.JPEG", "gradcam", "&class=21&wait=10000"));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var body = await Json(r);
        Assert.Equal(21, body.GetProperty("classIndex").GetInt32());
        Assert.Equal(VacCnn.Engine.Store.ShardOwner.ThisWorker, body.GetProperty("computedBy").GetString()); // Role=all: this process
        var tooLong = await client.GetAsync(ExplainUrl(Small, "n01608432_kite.JPEG", "gradcam", "&wait=10001"));
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        Assert.Contains("wait must be from 0 to 10000", (await Json(tooLong)).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Explanation_is_queued_then_served_from_the_cache_with_the_agreed_fields()
    {
        using var client = Client();
        string url = ExplainUrl(Small, "n02007558_flamingo.JPEG", "gradcampp");
        var first = await client.GetAsync(url);
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode); // never computed on the request
        var pending = await Json(first);
        Assert.Contains(pending.GetProperty("status").GetString(), new[] { "queued", "running" });

        var done = await UntilDone(client, url);
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        var body = await Json(done);
        var info = Image.Identify(Path.Combine(app.ImagesRoot, "n02007558_flamingo.JPEG"));
        Assert.Equal("done", body.GetProperty("status").GetString());
        Assert.Equal(Small, body.GetProperty("model").GetString());
        Assert.Equal("n02007558_flamingo.JPEG", body.GetProperty("image").GetString());
        Assert.Equal("gradcampp", body.GetProperty("method").GetString());
        Assert.Equal(info.Width, body.GetProperty("width").GetInt32());
        Assert.Equal(info.Height, body.GetProperty("height").GetInt32());
        Assert.Equal(130, body.GetProperty("groundTruthIndex").GetInt32());
        Assert.Equal("flamingo", body.GetProperty("groundTruthName").GetString());
        // Without a class, the predicted class is explained.
        Assert.Equal(body.GetProperty("predictedIndex").GetInt32(), body.GetProperty("classIndex").GetInt32());
        Assert.Equal(body.GetProperty("predictedProbability").GetDouble(), body.GetProperty("probability").GetDouble());
        Assert.InRange(body.GetProperty("probability").GetDouble(), 0, 1);
        Assert.False(string.IsNullOrEmpty(body.GetProperty("layer").GetString()));
        Assert.True(body.GetProperty("millis").GetInt64() >= 0);
        AssertQuality(body);
        foreach (string name in new[] { "className", "predictedName", "mapUrl", "pngUrl" })
            Assert.False(string.IsNullOrEmpty(body.GetProperty(name).GetString()), name);

        long computations = app.Service.Runner.Computations;
        var again = await client.GetAsync(url);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(computations, app.Service.Runner.Computations);

        // An explicit class is a different explanation: queued again, with its own probability.
        var other = await UntilDone(client, url + "&class=0");
        var otherBody = await Json(other);
        Assert.Equal(0, otherBody.GetProperty("classIndex").GetInt32());
        Assert.Equal(body.GetProperty("predictedIndex").GetInt32(), otherBody.GetProperty("predictedIndex").GetInt32());
    }

    /// <summary>
    /// The deletion/insertion fields of a finished explanation: both areas in [0, 1], each the trapezoidal area of its
    /// 17-point curve (recomputed here), and both curves meet at the explained class's probability on the whole image.
    /// </summary>
    internal static void AssertQuality(JsonElement body)
    {
        var q = body.GetProperty("quality");
        Assert.Equal(16, q.GetProperty("steps").GetInt32());
        foreach (string kind in new[] { "deletion", "insertion" })
        {
            var curve = q.GetProperty(kind + "Curve").EnumerateArray().Select(x => x.GetDouble()).ToArray();
            Assert.Equal(17, curve.Length);
            Assert.All(curve, p => Assert.InRange(p, 0, 1));
            double area = 0;
            for (int k = 0; k < 16; k++) area += (curve[k] + curve[k + 1]) / 2 / 16;
            Assert.Equal(area, body.GetProperty(kind).GetDouble(), 6);
            Assert.Equal(area, q.GetProperty(kind).GetDouble(), 6);
        }
        double probability = body.GetProperty("probability").GetDouble();
        Assert.Equal(probability, q.GetProperty("deletionCurve")[0].GetDouble(), 3);
        Assert.Equal(probability, q.GetProperty("insertionCurve")[16].GetDouble(), 3);
    }

    [Fact]
    public async Task Method_ranking_is_polled_until_done_and_each_mean_is_that_of_the_methods_own_explanations()
    {
        using var client = Client();
        string[] models = [Small, ExplanationWebFixture.ModelIds[1]];
        string url = $"/api/ranking?models={string.Join(',', models)}&images={Goldfish}&methods=gradcam,eigencam";
        var first = await client.GetAsync(url);
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal("running", (await Json(first)).GetProperty("status").GetString());
        var done = await UntilDone(client, url);
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        var methods = (await Json(done)).GetProperty("methods").EnumerateArray().ToList();
        Assert.Equal(["eigencam", "gradcam"], methods.Select(m => m.GetProperty("method").GetString()).Order().ToList());
        foreach (var m in methods)
        {
            string method = m.GetProperty("method").GetString()!;
            var each = new List<JsonElement>();
            foreach (string model in models) each.Add(await Json(await UntilDone(client, ExplainUrl(model, Goldfish, method))));
            Assert.Equal(each.Average(e => e.GetProperty("deletion").GetDouble()), m.GetProperty("deletion").GetDouble(), 9);
            Assert.Equal(each.Average(e => e.GetProperty("insertion").GetDouble()), m.GetProperty("insertion").GetDouble(), 9);
            Assert.Equal(2, m.GetProperty("done").GetInt32());
        }
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync($"/api/ranking?models={Small}")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync($"/api/ranking?models={Small}&images={Goldfish}&target=magic")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/ranking?models={Small}&images={Goldfish}&methods=magic")).StatusCode);
    }

    [Fact]
    public async Task Randomisation_check_is_polled_until_done_with_each_steps_correlation_and_picture()
    {
        using var client = Client();
        string url = $"/api/randomisation?model={Small}&image={Goldfish}&method=gradcampp&layers=2";
        var first = await client.GetAsync(url);
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(2, (await Json(first)).GetProperty("levels").GetArrayLength());
        var done = await UntilDone(client, url);
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        var body = await Json(done);
        var trained = app.Service.Cached(new ExplanationQuery(Small, Goldfish, "gradcampp"))!;
        Assert.Equal(trained.ClassIndex, body.GetProperty("classIndex").GetInt32());
        var levels = body.GetProperty("levels").EnumerateArray().ToList();
        Assert.Equal([1, 2], levels.Select(l => l.GetProperty("layers").GetInt32()));
        foreach (var level in levels)
        {
            int k = level.GetProperty("layers").GetInt32();
            var randomised = app.Service.Cached(new ExplanationQuery(Small, Goldfish, "gradcampp", RandomisedLayers: k))!;
            // Checked against a naive Spearman of the two stored maps (the JSON rounds to 6 decimals).
            double naive = ReferenceStatistics.Spearman(trained.CropMap.Values, randomised.CropMap.Values);
            Assert.InRange(level.GetProperty("spearman").GetDouble() - naive, -6e-7, 6e-7);
            var png = await client.GetAsync(level.GetProperty("pngUrl").GetString());
            Assert.Equal(HttpStatusCode.OK, png.StatusCode);
            Assert.Equal("image/png", png.Content.Headers.ContentType?.MediaType);
        }
        Assert.Equal(levels[^1].GetProperty("spearman").GetDouble() < 0.5, body.GetProperty("passed").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(body.GetProperty("trained").GetProperty("pngUrl").GetString())).StatusCode);

        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync($"/api/randomisation?model={Small}&image={Goldfish}&method=gradcam&layers=0")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync($"/api/randomisation?model={Small}&image={Goldfish}&method=gradcam&layers=x")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync($"/api/explanations?model={Small}&image={Goldfish}&method=gradcam&randomised=99")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/randomisation?model=nope&image={Goldfish}&method=gradcam")).StatusCode);
    }

    [Fact]
    public async Task Exports_load_unchanged_in_numpy_the_map_npy_the_similarity_and_ranking_csv()
    {
        using var client = Client();
        using var dir = new TempDir("vaccnn-export");
        var body = await Json(await UntilDone(client, ExplainUrl(Small, Goldfish, "gradcam")));
        var npy = await client.GetAsync(body.GetProperty("npyUrl").GetString());
        Assert.Equal(HttpStatusCode.OK, npy.StatusCode);
        Assert.Equal($"{Small}_gradcam_n01443537_goldfish.npy", npy.Content.Headers.ContentDisposition?.FileNameStar ?? npy.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
        string npyFile = dir.Combine("map.npy");
        await File.WriteAllBytesAsync(npyFile, await npy.Content.ReadAsByteArrayAsync());
        var map = app.Service.Cached(new ExplanationQuery(Small, Goldfish, "gradcam"))!.Map;

        string[] models = [Small, ExplanationWebFixture.ModelIds[1]];
        string similarity = $"/api/similarity?models={string.Join(',', models)}&image={Goldfish}&method=gradcam&metric=ssim";
        var matrix = (await Json(await UntilDone(client, similarity))).GetProperty("matrix");
        var csv = await client.GetAsync(similarity + "&format=csv");
        Assert.Equal("text/csv", csv.Content.Headers.ContentType?.MediaType);
        string csvFile = dir.Combine("similarity.csv");
        await File.WriteAllBytesAsync(csvFile, await csv.Content.ReadAsByteArrayAsync());

        string ranking = $"/api/ranking?models={Small}&images={Goldfish}&methods=gradcam,eigencam";
        var methods = (await Json(await UntilDone(client, ranking))).GetProperty("methods").EnumerateArray().ToList();
        string rankingFile = dir.Combine("ranking.csv");
        await File.WriteAllBytesAsync(rankingFile, await client.GetByteArrayAsync(ranking + "&format=csv"));

        // Debian's NumPy and Python's csv module read the files as they are.
        string printed = ReferencePython.Run($"""
            import csv, json, numpy as np
            a = np.load(r'{npyFile}')
            m = np.loadtxt(r'{csvFile}', delimiter=',', skiprows=1, usecols=(1, 2))
            with open(r'{csvFile}', newline='') as f: header = next(csv.reader(f))
            with open(r'{rankingFile}', newline='') as f: ranking = list(csv.DictReader(f))
            print(json.dumps(dict(dtype=str(a.dtype), shape=list(a.shape), total=float(a.astype(np.float64).sum()), corner=float(a[0, 0]),
                centre=float(a[a.shape[0] // 2, a.shape[1] // 2]), matrix=m.tolist(), header=header,
                ranking=[[r['method'], float(r['deletion']), float(r['insertion'])] for r in ranking])))
            """);
        var p = JsonDocument.Parse(printed).RootElement;
        Assert.Equal("float32", p.GetProperty("dtype").GetString());
        Assert.Equal([map.Height, map.Width], p.GetProperty("shape").EnumerateArray().Select(v => v.GetInt32()));
        Assert.Equal(map.Values.Sum(v => (double)v), p.GetProperty("total").GetDouble(), 6);
        Assert.Equal(map.Values[0], p.GetProperty("corner").GetSingle());
        Assert.Equal(map.Values[map.Height / 2 * map.Width + map.Width / 2], p.GetProperty("centre").GetSingle());
        Assert.Equal(["model", .. models], p.GetProperty("header").EnumerateArray().Select(v => v.GetString()));
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
                Assert.Equal(matrix[i][j].GetDouble(), p.GetProperty("matrix")[i][j].GetDouble(), 15);
        var rows = p.GetProperty("ranking").EnumerateArray().ToList();
        Assert.Equal(methods.Select(m => m.GetProperty("method").GetString()), rows.Select(r => r[0].GetString()));
        for (int i = 0; i < rows.Count; i++)
            Assert.Equal(methods[i].GetProperty("deletion").GetDouble(), rows[i][1].GetDouble(), 15);

        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync(similarity + "&format=xml")).StatusCode);
    }

    [Fact]
    public async Task A_damaged_image_fails_with_its_reason_and_the_host_keeps_serving()
    {
        using var client = Client();
        string url = ExplainUrl(Small, ExplanationWebFixture.Broken, "gradcam");
        var r = await UntilDone(client, url);
        Assert.Equal(HttpStatusCode.InternalServerError, r.StatusCode);
        var body = await Json(r);
        Assert.Equal(500, body.GetProperty("status").GetInt32()); // problem details, naming what failed
        Assert.Equal(Small, body.GetProperty("model").GetString());
        Assert.Contains("truncated", body.GetProperty("detail").GetString());
        // The failure is reported (not re-queued) to the next requests for the same explanation, PNG and histogram alike.
        Assert.Equal(HttpStatusCode.InternalServerError, (await client.GetAsync(url)).StatusCode);
        var png = await client.GetAsync($"/api/explanations/png?model={Small}&image={ExplanationWebFixture.Broken}&method=gradcam");
        Assert.Equal(HttpStatusCode.InternalServerError, png.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await UntilDone(client, ExplainUrl(Small, Goldfish, "gradcam"))).StatusCode);
    }

    [Fact]
    public async Task Raw_map_json_decodes_to_the_map_within_quantisation()
    {
        using var client = Client();
        var body = await Json(await UntilDone(client, ExplainUrl(Small, Goldfish, "gradcam")));
        var raw = await Json(await client.GetAsync(body.GetProperty("mapUrl").GetString()));
        int w = raw.GetProperty("width").GetInt32(), h = raw.GetProperty("height").GetInt32();
        byte[] q = Convert.FromBase64String(raw.GetProperty("data").GetString()!);
        Assert.Equal(w * h, q.Length);
        var map = app.Service.Cached(new ExplanationQuery(Small, Goldfish, "gradcam"))!.Map;
        Assert.Equal((map.Width, map.Height), (w, h));
        for (int i = 0; i < q.Length; i++) Assert.InRange(Math.Abs(q[i] / 255.0 - map.Values[i]), 0, 1 / 510.0 + 1e-6);
        Assert.Contains(q, b => b == 255 || b > 240); // the peak survives
    }

    [Fact]
    public async Task Png_is_the_heatmap_over_the_image_at_the_threshold()
    {
        using var client = Client();
        var body = await Json(await UntilDone(client, ExplainUrl(Small, Goldfish, "gradcam")));
        var r = await client.GetAsync(body.GetProperty("pngUrl").GetString() + "&threshold=0.6");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("image/png", r.Content.Headers.ContentType?.MediaType);
        using var png = Image.Load<Rgb24>(await r.Content.ReadAsByteArrayAsync());
        using var original = Image.Load<Rgb24>(Path.Combine(app.ImagesRoot, Goldfish));
        var map = app.Service.Cached(new ExplanationQuery(Small, Goldfish, "gradcam"))!.Map;
        Assert.Equal((original.Width, original.Height), (png.Width, png.Height));
        // Below the threshold the picture shows through (except where a contour line passes); at or above it is tinted.
        int below = 0, belowSame = 0, above = 0, aboveChanged = 0;
        for (int y = 0; y < png.Height; y++)
            for (int x = 0; x < png.Width; x++)
            {
                bool same = png[x, y].Equals(original[x, y]);
                if (map.Values[y * map.Width + x] < 0.6) { below++; belowSame += same ? 1 : 0; }
                else { above++; aboveChanged += same ? 0 : 1; }
            }
        Assert.True(above > 100 && below > 100);
        Assert.True(belowSame > 0.9 * below, $"{belowSame}/{below} unchanged below the threshold");
        Assert.True(aboveChanged > 0.95 * above, $"{aboveChanged}/{above} tinted above the threshold");
    }

    [Fact]
    public async Task Histogram_matches_a_naive_count_of_the_salient_pixels()
    {
        using var client = Client();
        await UntilDone(client, ExplainUrl(Small, Goldfish, "gradcam"));
        var h = await Json(await client.GetAsync($"/api/histogram?model={Small}&image={Goldfish}&method=gradcam&threshold=0.4&bins=32"));
        var map = app.Service.Cached(new ExplanationQuery(Small, Goldfish, "gradcam"))!.Map;
        using var image = Image.Load<Rgb24>(Path.Combine(app.ImagesRoot, Goldfish));
        var r = new int[32]; var g = new int[32]; var b = new int[32];
        int pixels = 0;
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < image.Width; x++)
            {
                if (map.Values[y * image.Width + x] < 0.4) continue;
                var p = image[x, y];
                r[p.R / 8]++; g[p.G / 8]++; b[p.B / 8]++; // 32 bins of 8 values each
                pixels++;
            }
        Assert.Equal(32, h.GetProperty("bins").GetInt32());
        Assert.Equal(pixels, h.GetProperty("pixels").GetInt32());
        Assert.Equal(r, h.GetProperty("r").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        Assert.Equal(g, h.GetProperty("g").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        Assert.Equal(b, h.GetProperty("b").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        Assert.True(pixels > 0 && pixels < image.Width * image.Height);
    }

    [Fact]
    public async Task Similarity_matrix_is_Algorithm_2_over_the_models_maps()
    {
        using var client = Client();
        string models = string.Join(",", ExplanationWebFixture.ModelIds);
        string url = $"/api/similarity?models={models}&image=n01608432_kite.JPEG&method=gradcam&metric=ssim";
        var first = await client.GetAsync(url);
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode); // the maps are queued, not computed on the request
        var pending = await Json(first);
        Assert.Equal(3, pending.GetProperty("pending").GetArrayLength());

        var done = await UntilDone(client, url);
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        var body = await Json(done);
        Assert.Equal(ExplanationWebFixture.ModelIds, body.GetProperty("models").EnumerateArray().Select(m => m.GetString()!).ToArray());
        var m = body.GetProperty("matrix").EnumerateArray().Select(row => row.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
        Assert.Equal(3, m.Length);

        var service = app.Service;
        var maps = ExplanationWebFixture.ModelIds.Select(id => service.Cached(new ExplanationQuery(id, "n01608432_kite.JPEG", "gradcam"))!.Map).ToList();
        var ssim = service.Metrics.Single(x => x.Id == "ssim");
        var direct = SimilarityMatrix.Compute(maps, ssim);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(1.0, m[i][i]);
            for (int j = 0; j < 3; j++)
            {
                Assert.Equal(m[i][j], m[j][i]);
                Assert.InRange(m[i][j], 0, 1);
                Assert.Equal(direct[i, j], m[i][j], 12);
                if (i != j) Assert.Equal(ssim.Similarity(maps[i], maps[j]), m[i][j], 12);
            }
        }
        Assert.True(m[0][1] < 1); // different models explain differently
    }
}

/// <summary>A host whose queue holds one waiting explanation, fed with slow ones (BBMP, 5000 steps).</summary>
[Collection(ExplanationWebCollection.Name)]
public sealed class ExplanationQueueLimitTests(ExplanationWebFixture app)
{
    [Fact]
    public async Task A_full_queue_answers_429_with_Retry_After_and_duplicates_do_not_take_places()
    {
        using var models = new TempDir("vaccnn-xweb-one-model");
        using var data = new TempDir("vaccnn-xweb-data1");
        Directory.CreateSymbolicLink(models.Combine(ExplanationWebFixture.Small), Path.Combine(TestPaths.Models, ExplanationWebFixture.Small));
        using var factory = app.Create(capacity: 1, models.Path, data.Path);
        using var client = factory.CreateClient();
        var service = factory.Services.GetRequiredService<ExplanationService>();
        string Url(int seed) => $"/api/explanations?model={ExplanationWebFixture.Small}&image={ExplanationWebFixture.Goldfish}&method=bbmp&iterations=5000&seed={seed}";

        Assert.Equal(HttpStatusCode.Accepted, (await client.GetAsync(Url(1))).StatusCode);
        // Wait (bounded) until the worker took the first job, which frees the single waiting place.
        for (int i = 0; i < 600 && service.Scheduler.Waiting > 0; i++) await Task.Delay(50);
        Assert.Equal(0, service.Scheduler.Waiting);

        var second = await client.GetAsync(Url(2));
        Assert.Equal(HttpStatusCode.Accepted, second.StatusCode);
        Assert.Equal("queued", (await JsonDocument.ParseAsync(await second.Content.ReadAsStreamAsync())).RootElement.GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.Accepted, (await client.GetAsync(Url(2))).StatusCode); // de-duplicated
        Assert.Equal(1, service.Scheduler.Waiting);

        var refused = await client.GetAsync(Url(3));
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.True(refused.Headers.RetryAfter?.Delta is { TotalSeconds: >= 1 }, "Retry-After header in seconds");
        var body = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement;
        Assert.Contains("full", body.GetProperty("detail").GetString());
        Assert.True(body.GetProperty("retryAfterMs").GetInt32() >= 1000);
        Assert.Equal(1, service.Scheduler.Waiting);

        // Similarity needs a map that cannot be queued now: refused the same way.
        var sim = await client.GetAsync($"/api/similarity?models={ExplanationWebFixture.Small}&image={ExplanationWebFixture.Goldfish}&method=bbmp&iterations=4999&metric=ssim");
        Assert.Equal(HttpStatusCode.TooManyRequests, sim.StatusCode);
        Assert.NotNull(sim.Headers.RetryAfter);
    }
}
