using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using VacCnn.Engine.Store;

namespace VacCnn.Browser.Tests;

/// <summary>
/// The compare page (views A–E) in Debian's chromium against the real host, real models and real images. Expected
/// values come from the files the host was given and from the stored predictions, not from the page's own code.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed partial class ComparePageTests(BrowserFixture app)
{
    private const float ExplainTimeoutMs = 300_000;

    // ------------------------------------------------------------------ overview (A) and graph (B)

    [Fact]
    public async Task OverviewChartsShowEveryModelAndClassAndClickingAModelPinsIt()
    {
        var page = await OpenCompare("/Compare");
        var overview = await app.Http.GetFromJsonAsync<JsonElement>("/api/overview");
        int roots = overview.GetProperty("roots").GetArrayLength();
        await page.WaitForFunctionAsync("() => Chart.getChart(document.getElementById('chart-a3'))");

        // A1: one point per evaluated model; A2: one dataset per model, one axis per root class.
        Assert.Equal(BrowserFixture.ModelIds.Length, await Count(page, "chart-a1"));
        Assert.Equal(BrowserFixture.ModelIds.Length, await page.EvaluateAsync<int>("() => Chart.getChart(document.getElementById('chart-a2')).data.datasets.length"));
        Assert.Equal(roots, await page.EvaluateAsync<int>("() => Chart.getChart(document.getElementById('chart-a2')).data.labels.length"));

        // A3: a bar per class that has images (the image set has one image per class, named after its wnid), sorted.
        Assert.Equal(app.Wnids.Count, await Count(page, "chart-a3"));
        var a3 = await page.EvaluateAsync<double[]>("() => Chart.getChart(document.getElementById('chart-a3')).data.datasets[0].data");
        Assert.Equal(a3.OrderByDescending(v => v), a3);

        // A4: the pinned root's classes among them (root of each class from /api/classes).
        string root = await page.InputValueAsync("#pin-root");
        var classes = await app.Http.GetFromJsonAsync<JsonElement>("/api/classes");
        int inRoot = classes.EnumerateArray().Count(c => c.GetProperty("root").GetString() == root && app.Wnids.Contains(c.GetProperty("wnid").GetString()!));
        Assert.Equal(inRoot, await Count(page, "chart-a4"));

        // The complexity switch: x is parameters (millions), then GFLOPs, per model as the overview reports them.
        var models = overview.GetProperty("models").EnumerateArray().ToDictionary(m => m.GetProperty("id").GetString()!);
        foreach (var (button, field, scale) in new[] { ("#complexity-gflops", "gflops", 1.0), ("#complexity-params", "parameters", 1e6) })
        {
            await page.ClickAsync(button);
            Assert.Equal("true", await page.GetAttributeAsync(button, "aria-pressed"));
            var xs = await page.EvaluateAsync<JsonElement>("() => Chart.getChart(document.getElementById('chart-a1')).data.datasets[0].data.map(p => [p.id, p.x])");
            foreach (var p in xs.EnumerateArray())
                Assert.Equal(models[p[0].GetString()!].GetProperty(field).GetDouble() / scale, p[1].GetDouble(), 9);
        }

        // Clicking another model's point in A1 pins it: the selector, the URL, A3's caption and the radar follow.
        string before = await page.InputValueAsync("#pin-model");
        string target = BrowserFixture.ModelIds.First(id => id != before);
        var (x, y) = await PointPosition(page, "chart-a1", $"(d, i) => d.id === '{target}'");
        await page.Mouse.ClickAsync(x, y);
        await page.WaitForFunctionAsync("id => document.getElementById('pin-model').value === id", target);
        Assert.Contains("pin=" + Uri.EscapeDataString(target), page.Url);
        string name = overview.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("id").GetString() == target).GetProperty("name").GetString()!;
        Assert.Equal(name, await page.TextContentAsync("#a3-model"));

        await page.Locator("#view-a").ScreenshotAsync(new() { Path = Shot("view-a-overview.png") });
        NoPageErrors(page);
    }

    [Fact]
    public async Task DistributionGraphHasAPointPerClassAndClickingOneSelectsIt()
    {
        var page = await OpenCompare("/Compare");
        // The graph is computed in the background after the evaluation: the page polls until it is ready.
        await page.WaitForFunctionAsync("() => Chart.getChart(document.getElementById('chart-b'))", null, new() { Timeout = 180_000 });
        int points = await page.EvaluateAsync<int>("() => Chart.getChart(document.getElementById('chart-b')).data.datasets.reduce((n, d) => n + d.data.length, 0)");
        Assert.Equal(app.Wnids.Count, points);

        // Click a point inside the initial view with no other point within 10 px (so the click is unambiguous).
        var hit = await ChartProbe.IsolatedPoint(page, "chart-b");
        Assert.NotNull(hit);
        var (x, y, index) = hit.Value;
        await page.Mouse.ClickAsync(x, y);
        await page.WaitForFunctionAsync("i => document.querySelector(`#class-chips [data-remove-class=\"${i}\"]`)", index);
        Assert.Matches($"classes=[0-9%C,]*{index}", page.Url);
        await page.Locator("#view-b").ScreenshotAsync(new() { Path = Shot("view-b-distribution.png") });
        NoPageErrors(page);
    }

    // ------------------------------------------------------------------ the paper's use cases (C, D, E)

    [Fact]
    public async Task UseCase1AllModelsOnACrayfishImageWithGradCam()
    {
        var page = await OpenCompare("/Compare");
        await page.ClickAsync("#models-all");
        await page.FillAsync("#class-search", "crayfish");
        await page.CheckAsync("input[data-class-index=\"124\"]");
        await page.SelectOptionAsync("#method", await MethodId("Grad-CAM"));
        await page.ClickAsync("#thumbs button.thumb");
        await WaitForRows(page, BrowserFixture.ModelIds.Length);

        // Ground truth, prediction and confidence against the evaluation's stored predictions.
        var truth = await Predictions();
        string crayfishFile = app.ImageFiles.Single(f => f.StartsWith(BrowserFixture.CrayfishWnid, StringComparison.Ordinal));
        foreach (string id in BrowserFixture.ModelIds)
        {
            var row = page.Locator($"#explain-table tbody tr[data-model=\"{id}\"]");
            var p = truth[id].Rows.Single(r => Path.GetFileName(r.RelativePath) == crayfishFile);
            Near(p.Top1Correct ? 1.0 : 0.0, ParsePercent(await row.Locator("td.class-accuracy").TextContentAsync()), 0.0006);
            Near(truth[id].Top1, ParsePercent(await row.Locator("td.overall-accuracy").TextContentAsync()), 0.0006);
            Near(p.Top5Probabilities[0], ParsePercent(await row.Locator("td.confidence").TextContentAsync()), 0.002);
        }

        // Sorting: by class accuracy (values non-increasing, then non-decreasing), by overall accuracy (a known order).
        await page.ClickAsync("button.sort[data-sort=\"classAccuracy\"]");
        var desc = await Column(page, "class-accuracy");
        Assert.Equal(desc.OrderByDescending(v => v), desc);
        await page.ClickAsync("button.sort[data-sort=\"classAccuracy\"]");
        var asc = await Column(page, "class-accuracy");
        Assert.Equal(asc.OrderBy(v => v), asc);
        await page.ClickAsync("button.sort[data-sort=\"overallAccuracy\"]");
        var expected = BrowserFixture.ModelIds.OrderByDescending(id => truth[id].Top1).ToList();
        Assert.Equal(expected, await RowModels(page));
        await page.ClickAsync("button.sort[data-sort=\"overallAccuracy\"]");
        Assert.Equal(Enumerable.Reverse(expected).ToList(), await RowModels(page));
        Assert.Contains("sort=overallAccuracy", page.Url);

        // The search box keeps only the matching rows.
        await page.FillAsync("#table-search", "squeezenet");
        Assert.Equal(["squeezenet_v1.1_int8"], await page.EvaluateAsync<string[]>("() => [...document.querySelectorAll('#explain-table tbody tr:not([hidden])')].map(t => t.dataset.model)"));
        await page.FillAsync("#table-search", "");
        Assert.Equal(BrowserFixture.ModelIds.Length, await page.Locator("#explain-table tbody tr:not([hidden])").CountAsync());

        // E: the similarity matrix has one row and one column per selected model.
        await page.WaitForFunctionAsync("n => Chart.getChart(document.getElementById('chart-similarity'))?.data.datasets[0].data.length === n * n",
            BrowserFixture.ModelIds.Length, new() { Timeout = ExplainTimeoutMs });
        var labels = await page.EvaluateAsync<string[][]>("() => { const c = Chart.getChart(document.getElementById('chart-similarity')); " +
            "const d = c.data.datasets[0].data; return [[...new Set(d.map(p => p.x))], [...new Set(d.map(p => p.y))]]; }");
        Assert.Equal(BrowserFixture.ModelIds.Length, labels[0].Length);
        Assert.Equal(BrowserFixture.ModelIds.Length, labels[1].Length);

        // E: "Range" and "Average of class accuracy": the classes the API picks for these models, a bar per model.
        string ids = string.Join(",", BrowserFixture.ModelIds);
        foreach (string kind in new[] { "range", "average" })
        {
            var answer = await app.Http.GetFromJsonAsync<JsonElement>($"/api/compare/{kind}?models={ids}");
            int expectedClasses = answer.GetProperty("classes").GetArrayLength();
            await page.WaitForFunctionAsync("([id, n]) => Chart.getChart(document.getElementById(id))?.data.labels.length === n", new object[] { "chart-" + kind, expectedClasses });
            Assert.Equal(BrowserFixture.ModelIds.Length, await page.EvaluateAsync<int>("id => Chart.getChart(document.getElementById(id)).data.datasets.length", "chart-" + kind));
        }

        // The URL holds the task: a reload restores the same rows.
        string url = page.Url;
        Assert.Contains("classes=124", url);
        Assert.Contains("image=", url);
        await page.ReloadAsync();
        await WaitForRows(page, BrowserFixture.ModelIds.Length);
        Assert.Equal(Enumerable.Reverse(expected).ToList(), await RowModels(page));

        await page.Locator("#view-c").ScreenshotAsync(new() { Path = Shot("view-c-task.png") });
        await page.Locator("#view-d").ScreenshotAsync(new() { Path = Shot("view-d-explanations.png") });
        await page.Locator("#view-e").ScreenshotAsync(new() { Path = Shot("view-e-supplemental.png") });
        await page.EvaluateAsync("() => window.scrollTo(0, 0)");
        await page.ScreenshotAsync(new() { Path = Shot("compare-use-case-1.png"), FullPage = true });
        NoPageErrors(page);
    }

    [Fact]
    public async Task UseCase2OneModelOnTheFlamingoImagesWithSmoothGradCamPlusPlusHasAHistogramPerRow()
    {
        var page = await OpenCompare("/Compare");
        string model = BrowserFixture.ModelIds[0];
        await page.CheckAsync("input[name=task][value=\"model-class-images\"]");
        await page.ClickAsync("#models-none");
        await page.CheckAsync($"#model-list input[data-model-id=\"{model}\"]");
        await page.SelectOptionAsync("#method", await MethodId("Smooth Grad-CAM++"));
        // Fewer noisy samples than the default 25 keep CI time down on two cores (the setting goes into the URL).
        await page.FillAsync("input[data-setting=\"samples\"]", "8");
        await page.PressAsync("input[data-setting=\"samples\"]", "Tab");
        Assert.Contains("s.samples=8", page.Url);
        await page.FillAsync("#class-search", "flamingo");
        await page.CheckAsync("input[data-class-index=\"130\"]");

        int images = app.ImageFiles.Count(f => f.StartsWith(BrowserFixture.FlamingoWnid, StringComparison.Ordinal));
        await WaitForRows(page, images);
        Assert.Equal(images, await page.Locator("#explain-table tbody tr").CountAsync());
        Assert.True(await page.Locator("#explain-table th.col-histogram").IsVisibleAsync());
        // Every histogram canvas is visible and has drawn something besides its background.
        var inked = await page.EvaluateAsync<int[]>("() => [...document.querySelectorAll('#explain-table tbody canvas.hist')].map(c => { " +
            "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; " +
            "for (let i = 0; i < d.length; i += 4) if (d[i] !== 251 || d[i + 1] !== 251 || d[i + 2] !== 252) n++; return c.hidden ? 0 : n; })");
        Assert.Equal(images, inked.Length);
        Assert.All(inked, n => Assert.True(n > 100, $"histogram has only {n} drawn pixels"));
        await page.ScreenshotAsync(new() { Path = Shot("compare-use-case-2.png") });
        NoPageErrors(page);
    }

    [Fact]
    public async Task OneModelOnSeveralClassesShowsAPlaceholderWithProgressUntilEachMapArrives()
    {
        var page = await app.NewPage();
        // Record every state a row goes through (set by the page as the API answers 202 queued/running, then 200).
        await page.AddInitScriptAsync("window.__rowStates = []; new MutationObserver(ms => ms.forEach(m => " +
            "window.__rowStates.push(m.target.dataset.status))).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-status'] });");
        // Grad-CAM++ with this model is explained by no other test, so nothing is cached yet.
        string model = BrowserFixture.ModelIds[2];
        await page.GotoAsync($"/Compare?task=model-classes&models={model}&classes=124,130&method={await MethodId("Grad-CAM++")}");
        await page.WaitForSelectorAsync("body[data-compare-ready=true]");
        await WaitForRows(page, 2);

        var states = await page.EvaluateAsync<string[]>("() => window.__rowStates");
        Assert.Contains(states, st => st is "queued" or "running");
        Assert.Equal("done", states[^1]);
        // One row per class: the first image of each (one image per class in this image set).
        var images = await page.EvaluateAsync<string[]>("() => [...document.querySelectorAll('#explain-table tbody tr')].map(t => t.dataset.image)");
        Assert.Equal(
            app.ImageFiles.Where(f => f.StartsWith(BrowserFixture.CrayfishWnid, StringComparison.Ordinal) || f.StartsWith(BrowserFixture.FlamingoWnid, StringComparison.Ordinal)).Order(),
            images.Order());
        Assert.True(await page.Locator("#explain-table th.col-histogram").IsVisibleAsync());
        NoPageErrors(page);
    }

    [Fact]
    public async Task ThresholdSliderRedrawsTheMapsWithoutANetworkRequest()
    {
        string model = BrowserFixture.ModelIds[0];
        var page = await OpenCompare($"/Compare?task=model-class-images&models={model}&classes=130&method={await MethodId("Grad-CAM")}&threshold=0.30");
        await WaitForRows(page, app.ImageFiles.Count(f => f.StartsWith(BrowserFixture.FlamingoWnid, StringComparison.Ordinal)));
        const string pixels = "() => [...document.querySelectorAll('#explain-table tbody canvas.map')].map(c => c.toDataURL()).join('|')";
        string before = await page.EvaluateAsync<string>(pixels);

        var requests = new List<string>();
        page.Request += (_, r) => requests.Add(r.Url);
        await page.FillAsync("#threshold", "0.7");
        await page.WaitForFunctionAsync("() => document.getElementById('threshold-value').textContent === '0.70'");
        string after = await page.EvaluateAsync<string>(pixels);
        await page.WaitForTimeoutAsync(300); // would catch a late request
        Assert.NotEqual(before, after);
        Assert.Empty(requests);
        Assert.Contains("threshold=0.70", page.Url);

        // The salient share the browser draws matches the engine's own thresholding of the same map (the server's
        // histogram counts pixels at full image resolution; the browser samples the map at display size).
        var row = page.Locator("#explain-table tbody tr").First;
        string image = (await row.GetAttributeAsync("data-image"))!;
        double drawn = double.Parse((await row.GetAttributeAsync("data-salient-fraction"))!, CultureInfo.InvariantCulture);
        string method = await MethodId("Grad-CAM");
        string q = $"model={model}&image={Uri.EscapeDataString(image)}&method={method}&class=130";
        var explanation = await app.Http.GetFromJsonAsync<JsonElement>("/api/explanations?" + q);
        var histogram = await app.Http.GetFromJsonAsync<JsonElement>($"/api/histogram?{q}&threshold=0.7&bins=8");
        double engine = histogram.GetProperty("pixels").GetDouble() / (explanation.GetProperty("width").GetDouble() * explanation.GetProperty("height").GetDouble());
        Assert.True(engine > 0.005, $"only {engine:P2} of the image is salient at 0.7: the comparison would be empty");
        Near(engine, drawn, 0.03);

        // Keyboard: the slider moves with the arrow keys, still without a request.
        await page.FocusAsync("#threshold");
        await page.Keyboard.PressAsync("ArrowRight");
        await page.WaitForFunctionAsync("() => document.getElementById('threshold-value').textContent === '0.71'");
        Assert.Empty(requests);
        NoPageErrors(page);
    }

    [Fact]
    public async Task BeforeATaskEachMethodShowsAnExampleWithADescription()
    {
        var page = await OpenCompare("/Compare?task=models-image");
        var explainers = await app.Http.GetFromJsonAsync<JsonElement>("/api/explainers");
        await page.WaitForFunctionAsync("n => document.querySelectorAll('#examples figure.example').length === n", explainers.GetArrayLength());
        // The first method's example is computed and drawn (the others follow one at a time).
        string first = explainers[0].GetProperty("id").GetString()!;
        await page.WaitForSelectorAsync($"#examples figure[data-method=\"{first}\"] canvas.map:not([hidden])", new() { Timeout = ExplainTimeoutMs });
        Assert.False(await page.IsVisibleAsync("#explain-wrap"));
        foreach (var x in explainers.EnumerateArray())
            Assert.Contains(x.GetProperty("description").GetString()!, await page.Locator($"#examples figure[data-method=\"{x.GetProperty("id").GetString()}\"]").TextContentAsync());
        await page.Locator("#view-d").ScreenshotAsync(new() { Path = Shot("view-d-examples.png") });
        NoPageErrors(page);
    }

    [Fact]
    public async Task AnUploadedPhotoIsExplainedByEveryModelWithSortableDeletionAndInsertionColumns()
    {
        // The user's own photo: a sample re-encoded as PNG (other bytes than any file of the image set).
        string photo = Path.Combine(BrowserFixture.ScreenshotDir, "my-photo.png");
        using (var image = SixLabors.ImageSharp.Image.Load(Path.Combine(VacCnn.TestSupport.TestPaths.ImageNetSamples, "n01484850_great_white_shark.JPEG")))
            await SixLabors.ImageSharp.ImageExtensions.SaveAsPngAsync(image, photo);
        var page = await OpenCompare("/Compare");
        await page.ClickAsync("#models-all");
        await page.SelectOptionAsync("#method", await MethodId("Grad-CAM"));
        await page.SetInputFilesAsync("#upload", photo);
        await page.WaitForFunctionAsync("() => document.getElementById('upload-status').textContent.includes('×')");
        await WaitForRows(page, BrowserFixture.ModelIds.Length);
        string id = await page.EvaluateAsync<string>("() => document.querySelector('#explain-table tbody tr').dataset.image");
        Assert.Matches("^uploads/[0-9a-f]{64}\\.png$", id);
        Assert.Contains("image=uploads%2F", page.Url);

        // Each row: no ground truth; the AUCs the API reports for that model and photo, and both curves drawn.
        foreach (string model in BrowserFixture.ModelIds)
        {
            var row = page.Locator($"#explain-table tbody tr[data-model=\"{model}\"]");
            Assert.Equal("—", (await row.Locator("td.gt").TextContentAsync())?.Trim());
            Assert.Equal(0, await row.Locator("td.pred.wrong").CountAsync()); // no ground truth: never marked wrong
            var body = await app.Http.GetFromJsonAsync<JsonElement>($"/api/explanations?model={model}&image={Uri.EscapeDataString(id)}&method=gradcam");
            foreach (string kind in new[] { "deletion", "insertion" })
            {
                double shown = double.Parse((await row.Locator($"td.{kind} .auc").TextContentAsync())!, CultureInfo.InvariantCulture);
                Near(body.GetProperty(kind).GetDouble(), shown, 0.0005);
            }
        }
        var inked = await page.EvaluateAsync<int[]>("() => [...document.querySelectorAll('#explain-table tbody canvas.curve')].map(c => { " +
            "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; " +
            "for (let i = 0; i < d.length; i += 4) if (d[i] !== 251 || d[i + 1] !== 251 || d[i + 2] !== 252) n++; return n; })");
        Assert.Equal(2 * BrowserFixture.ModelIds.Length, inked.Length);
        Assert.All(inked, n => Assert.True(n > 50, $"a curve has only {n} drawn pixels"));

        // Sorting by either column orders the rows by the value shown.
        foreach (string kind in new[] { "deletion", "insertion" })
        {
            await page.ClickAsync($"button.sort[data-sort=\"{kind}\"]");
            var desc = (await page.Locator($"#explain-table tbody td.{kind} .auc").AllTextContentsAsync()).Select(t => double.Parse(t, CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(desc.OrderByDescending(v => v), desc);
            await page.ClickAsync($"button.sort[data-sort=\"{kind}\"]");
            var asc = (await page.Locator($"#explain-table tbody td.{kind} .auc").AllTextContentsAsync()).Select(t => double.Parse(t, CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(asc.OrderBy(v => v), asc);
        }
        await page.Locator("#view-d").ScreenshotAsync(new() { Path = Shot("view-d-upload-quality.png") });

        // The method ranking for this task: every method on the three models and this photo, best margin first.
        int methods = (await app.Http.GetFromJsonAsync<JsonElement>("/api/explainers")).GetArrayLength();
        await page.ClickAsync("#ranking-run");
        await page.WaitForSelectorAsync("#ranking-table[data-status=done]", new() { Timeout = ExplainTimeoutMs });
        var ranking = await page.EvaluateAsync<double[][]>("() => [...document.querySelectorAll('#ranking-table tbody tr')].map(t => " +
            "[Number(t.querySelector('td.deletion').textContent), Number(t.querySelector('td.insertion').textContent)])");
        Assert.Equal(methods, ranking.Length);
        Assert.All(ranking, r => Assert.True(r[0] is >= 0 and <= 1 && r[1] is >= 0 and <= 1, $"AUCs {r[0]}, {r[1]}"));
        var margins = ranking.Select(r => r[1] - r[0]).ToList();
        for (int i = 1; i < margins.Count; i++) Assert.True(margins[i] <= margins[i - 1] + 0.002, $"rank {i + 1} above rank {i}"); // shown rounded to 3 places
        await page.Locator("#view-e").ScreenshotAsync(new() { Path = Shot("view-e-method-ranking.png") });

        // The randomisation check of the first row: the trained map and the maps with the top 1–3 layers shuffled,
        // each drawn, with the rank correlations and verdict the API gives.
        string firstModel = await page.EvaluateAsync<string>("() => document.querySelector('#explain-table tbody tr').dataset.model");
        await page.ClickAsync("#randomisation-run");
        await page.WaitForSelectorAsync("#randomisation-strip[data-status=done]", new() { Timeout = ExplainTimeoutMs });
        var check = await app.Http.GetFromJsonAsync<JsonElement>($"/api/randomisation?model={firstModel}&image={Uri.EscapeDataString(id)}&method=gradcam&layers=3");
        Assert.Equal("done", check.GetProperty("status").GetString());
        await page.WaitForFunctionAsync("() => [...document.querySelectorAll('#randomisation-strip img')].every(i => i.complete && i.naturalWidth > 0)");
        Assert.Equal(4, await page.Locator("#randomisation-strip img").CountAsync());
        var captions = await page.Locator("#randomisation-strip figure[data-layers] figcaption").AllTextContentsAsync();
        var levels = check.GetProperty("levels").EnumerateArray().ToList();
        Assert.Equal(3, captions.Count);
        for (int i = 0; i < 3; i++)
            Assert.EndsWith("ρ " + levels[i].GetProperty("spearman").GetDouble().ToString("F2", CultureInfo.InvariantCulture), captions[i]);
        Assert.StartsWith(check.GetProperty("passed").GetBoolean() ? "passes" : "fails", await page.TextContentAsync("#randomisation-status"));
        await page.Locator("#view-e").ScreenshotAsync(new() { Path = Shot("view-e-randomisation-check.png") });

        // Downloads: the table as CSV (one line per row, the numbers the API gave), a chart as PNG, each row's raw map.
        var tableCsv = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("#table-csv"));
        var lines = File.ReadAllLines(await tableCsv.PathAsync());
        Assert.Equal(1 + BrowserFixture.ModelIds.Length, lines.Length);
        Assert.StartsWith("model,image,label,ground_truth,prediction,confidence", lines[0]);
        foreach (string model in BrowserFixture.ModelIds)
        {
            var fields = lines.Single(l => l.StartsWith(model + ",", StringComparison.Ordinal)).Split(',');
            var body = await app.Http.GetFromJsonAsync<JsonElement>($"/api/explanations?model={model}&image={Uri.EscapeDataString(id)}&method=gradcam");
            Assert.Equal(body.GetProperty("deletion").GetDouble(), double.Parse(fields[8], CultureInfo.InvariantCulture), 12);
            Assert.Equal(body.GetProperty("predictedProbability").GetDouble(), double.Parse(fields[5], CultureInfo.InvariantCulture), 6);
        }
        var chartPng = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("button.chart-png[data-chart=chart-similarity]"));
        var png = await File.ReadAllBytesAsync(await chartPng.PathAsync());
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        Assert.Equal(BrowserFixture.ModelIds.Length, await page.Locator("#explain-table a.npy[href*='/api/explanations/npy']").CountAsync());
        NoPageErrors(page);
    }

    // ------------------------------------------------------------------ helpers

    private async Task<IPage> OpenCompare(string path)
    {
        var page = await app.NewPage();
        var response = await page.GotoAsync(path);
        Assert.NotNull(response);
        Assert.True(response.Ok, $"GET {path}: {response.Status}");
        Assert.Contains("script-src 'self'", (await response.AllHeadersAsync())["content-security-policy"]);
        await page.WaitForSelectorAsync("body[data-compare-ready=true]");
        return page;
    }

    private void NoPageErrors(IPage page) => Assert.Empty(app.PageErrors[page]);

    private static string Shot(string name) => Path.Combine(BrowserFixture.ScreenshotDir, name);

    private static Task<int> Count(IPage page, string canvas) =>
        page.EvaluateAsync<int>("id => Chart.getChart(document.getElementById(id))?.data.datasets[0].data.length ?? -1", canvas);

    /// <summary>Page coordinates of the first point of dataset 0 matching <paramref name="predicate"/> (a JS (datum, index) function).</summary>
    private static async Task<(float X, float Y)> PointPosition(IPage page, string canvas, string predicate)
    {
        await page.Locator("#" + canvas).ScrollIntoViewIfNeededAsync();
        var xy = await page.EvaluateAsync<double[]>(
            $"id => {{ const c = Chart.getChart(document.getElementById(id)); const i = c.data.datasets[0].data.findIndex({predicate}); " +
            "const e = c.getDatasetMeta(0).data[i]; const r = c.canvas.getBoundingClientRect(); return [r.left + e.x, r.top + e.y]; }", canvas);
        return ((float)xy[0], (float)xy[1]);
    }

    /// <summary>Waits until the table has <paramref name="count"/> rows and all are explained; fails with the cells' errors.</summary>
    private static async Task WaitForRows(IPage page, int count)
    {
        await page.WaitForFunctionAsync("n => { const r = [...document.querySelectorAll('#explain-table tbody tr')]; " +
            "return r.length === n && r.every(t => t.dataset.status === 'done' || t.dataset.status === 'failed'); }", count,
            new() { Timeout = ExplainTimeoutMs, PollingInterval = 500 });
        var failed = await page.EvaluateAsync<string[]>("() => [...document.querySelectorAll('#explain-table tbody tr[data-status=failed]')].map(t => t.textContent)");
        Assert.True(failed.Length == 0, "explanations failed: " + string.Join(" | ", failed));
    }

    private static async Task<List<double>> Column(IPage page, string cls) =>
        (await page.Locator($"#explain-table tbody td.{cls}").AllTextContentsAsync()).Select(ParsePercent).ToList();

    private static async Task<List<string>> RowModels(IPage page) =>
        (await page.EvaluateAsync<string[]>("() => [...document.querySelectorAll('#explain-table tbody tr')].map(t => t.dataset.model)")).ToList();

    private static void Near(double expected, double actual, double tolerance) =>
        Assert.True(Math.Abs(expected - actual) <= tolerance, $"expected {expected} ± {tolerance}, shown {actual}");

    private static double ParsePercent(string? text)
    {
        var m = PercentPattern().Match(text ?? "");
        Assert.True(m.Success, $"'{text}' is not a percentage");
        return double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) / 100;
    }

    [GeneratedRegex(@"([0-9]+(?:\.[0-9]+)?)\s*%")]
    private static partial Regex PercentPattern();

    /// <summary>The id of the explainer with this display name (Grad-CAM, Smooth Grad-CAM++, …), from /api/explainers.</summary>
    private async Task<string> MethodId(string displayName)
    {
        static string Key(string s) => new string(s.ToLowerInvariant().Replace("++", "pp", StringComparison.Ordinal).Where(char.IsLetterOrDigit).ToArray());
        var explainers = await app.Http.GetFromJsonAsync<JsonElement>("/api/explainers");
        var hit = explainers.EnumerateArray().FirstOrDefault(x =>
            Key(x.GetProperty("displayName").GetString()!) == Key(displayName) || Key(x.GetProperty("id").GetString()!) == Key(displayName));
        Assert.True(hit.ValueKind == JsonValueKind.Object, $"no explainer '{displayName}' in {explainers}");
        return hit.GetProperty("id").GetString()!;
    }

    /// <summary>Per model: top-1 recomputed from the stored predictions of its finished run, and the predictions.</summary>
    private async Task<Dictionary<string, (double Top1, IReadOnlyList<PredictionRow> Rows)>> Predictions()
    {
        var runs = await app.Http.GetFromJsonAsync<JsonElement>("/api/runs");
        var store = new ResultStore(app.DataDir);
        var result = new Dictionary<string, (double, IReadOnlyList<PredictionRow>)>();
        foreach (string id in BrowserFixture.ModelIds)
        {
            string runId = runs.EnumerateArray().First(r => r.GetProperty("modelId").GetString() == id && r.GetProperty("state").GetString() == RunStates.Done)
                .GetProperty("runId").GetString()!;
            var rows = store.GetPredictions(runId);
            result[id] = ((double)rows.Count(r => r.Top1Correct) / rows.Count, rows);
        }
        return result;
    }
}
