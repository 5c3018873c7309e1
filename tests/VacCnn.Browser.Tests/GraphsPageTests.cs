using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;

namespace VacCnn.Browser.Tests;

/// <summary>
/// The two-graph page in Debian's chromium against the real host: both graphs drawn with one window, hover linked
/// across them, the table and the highlighted neighbours as the API gives them (checked there against a naive
/// search in the Web tests).
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class GraphsPageTests(BrowserFixture app)
{
    private const string A = "mobilenet_v1_0.5_160_quant", B = "mobilenet_v1_0.25_128_quant";

    [Fact]
    public async Task Two_aligned_graphs_with_linked_hover_selection_and_the_most_different_classes()
    {
        var page = await app.NewPage();
        var response = await page.GotoAsync($"/Graphs?a={A}&b={B}");
        Assert.True(response!.Ok, $"GET /Graphs: {response.Status}");
        // Started from the WordNet layout (the page's default): computed in the background, the page polls.
        try { await page.WaitForFunctionAsync("() => document.body.dataset.graphsReady === 'true'", null, new() { Timeout = 180_000 }); }
        catch (TimeoutException)
        {
            string state = await page.EvaluateAsync<string>("() => ['graphs-error', 'graph-a-status', 'graph-b-status', 'diff-status'].map(id => id + ': ' + document.getElementById(id).textContent).join(' | ')");
            Assert.Fail($"the page never drew both graphs: {state}; page errors: {string.Join(" | ", app.PageErrors[page])}");
        }
        Assert.Equal(A, await page.InputValueAsync("#graphs-a"));
        Assert.Equal(B, await page.InputValueAsync("#graphs-b"));
        Assert.Equal("reference", await page.InputValueAsync("#graphs-init"));

        // A point per class with images in each; one window for both (x and y ranges equal).
        foreach (string side in new[] { "a", "b" })
            Assert.Equal(app.Wnids.Count, await page.EvaluateAsync<int>($"() => Chart.getChart(document.getElementById('graph-{side}')).data.datasets.reduce((n, d) => n + d.data.length, 0)"));
        var ranges = await page.EvaluateAsync<double[]>("() => ['a', 'b'].flatMap(s => { const c = Chart.getChart(document.getElementById('graph-' + s)); return [c.scales.x.min, c.scales.x.max, c.scales.y.min, c.scales.y.max]; })");
        Assert.Equal(ranges[..4], ranges[4..]);
        Assert.Contains("KL", await page.TextContentAsync("#graph-a-status"));
        Assert.Contains("started from the WordNet layout", await page.TextContentAsync("#graph-b-status"));

        // The table is the API's list, in its order.
        var api = await app.Http.GetFromJsonAsync<JsonElement>($"/api/compare/graphs?a={A}&b={B}&init=reference");
        var expected = api.GetProperty("classes").EnumerateArray().Select(c => c.GetProperty("index").GetInt32()).ToArray();
        var shown = await page.EvaluateAsync<int[]>("() => [...document.querySelectorAll('#graphs-diff tbody tr')].map(t => Number(t.dataset.classIndex))");
        Assert.Equal(expected, shown);

        // Hover a point of A: the same class becomes active (with its tooltip) in B.
        var hit = await ChartProbe.IsolatedPoint(page, "graph-a", gap: 12);
        Assert.NotNull(hit);
        var (x, y, hovered) = hit.Value;
        await page.Mouse.MoveAsync(x, y);
        await page.WaitForFunctionAsync("i => document.getElementById('graphs').dataset.linkedHover === String(i)", hovered);
        int activeInB = await page.EvaluateAsync<int>("() => { const c = Chart.getChart(document.getElementById('graph-b')); const e = c.getActiveElements()[0]; " +
            "return e ? c.data.datasets[e.datasetIndex].data[e.index].index : -1; }");
        Assert.Equal(hovered, activeInB);
        Assert.True(await page.EvaluateAsync<bool>("() => Chart.getChart(document.getElementById('graph-b')).tooltip.getActiveElements().length === 1"));

        // Click the most different class in the table: the URL keeps it, both graphs enlarge it and ring its
        // neighbours in that model (as many as the API lists for each side).
        await page.Locator("#graphs-diff tbody tr").First.ClickAsync();
        int selected = expected[0];
        await page.WaitForFunctionAsync("i => document.getElementById('graphs-selection').dataset.classIndex === String(i)", selected);
        Assert.Contains($"class={selected}", page.Url);
        var row = api.GetProperty("classes")[0];
        int shared = row.GetProperty("shared").GetArrayLength();
        foreach (var (side, only) in new[] { ("a", "onlyA"), ("b", "onlyB") })
        {
            var radii = await page.EvaluateAsync<double[]>($"() => {{ const c = Chart.getChart(document.getElementById('graph-{side}')); " +
                "return c.data.datasets.flatMap((d, k) => c.getDatasetMeta(k).data.map(e => e.options.radius)); }");
            Assert.Single(radii, r => r == 8);
            Assert.Equal(shared + row.GetProperty(only).GetArrayLength(), radii.Count(r => r == 5.5));
        }
        Assert.Contains("true", await page.EvaluateAsync<string>("() => String(document.querySelector('#graphs-diff tbody tr').classList.contains('selected'))"));
        await page.Locator("#graphs section").First.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDir, "graphs-compare.png") });

        // Swap: the models trade places, in the selects and the URL.
        await page.ClickAsync("#graphs-swap");
        await page.WaitForFunctionAsync("b => document.getElementById('graphs-a').value === b", B);
        Assert.Contains($"a={Uri.EscapeDataString(B)}", page.Url);
        await page.WaitForFunctionAsync("() => document.body.dataset.graphsReady === 'true'");
        Assert.Empty(app.PageErrors[page]);
    }
}
