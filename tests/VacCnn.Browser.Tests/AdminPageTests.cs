using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace VacCnn.Browser.Tests;

/// <summary>
/// The Admin page's precompute form in Debian's chromium against the real host: a batch started from the form shows
/// its progress live (the page polls /api/precompute, no reload), and afterwards every explanation of the batch is
/// served from the store at once, as the Compare page asks for it.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class AdminPageTests(BrowserFixture app)
{
    private const string Model = "mobilenet_v1_0.25_128_quant";

    [Fact]
    public async Task A_precompute_batch_started_from_the_form_shows_live_progress_and_its_maps_are_then_served_at_once()
    {
        // Score-CAM (one forward pass per channel): slow enough that the page sees the batch running.
        var images = app.ImageFiles.Take(6).ToArray();
        var page = await app.NewPage();
        Assert.True((await page.GotoAsync("/Admin"))!.Ok);
        await page.SelectOptionAsync("#pre-models", [Model]);
        await page.SelectOptionAsync("#pre-methods", ["scorecam"]);
        await page.FillAsync("#pre-images", string.Join(", ", images));
        await page.ClickAsync("#precompute-form button[type=submit]");
        await page.WaitForSelectorAsync("#batches tr[data-batch]");
        string id = (await page.GetAttributeAsync("#batches tbody tr", "data-batch"))!;
        string? shownFirst = await page.TextContentAsync($"tr[data-batch='{id}'] [data-field=state]");
        Assert.Contains("scorecam", await page.TextContentAsync($"tr[data-batch='{id}']"));

        try
        {
            await page.WaitForFunctionAsync("id => { const r = document.querySelector(`tr[data-batch='${id}']`); " +
                "return r.querySelector('[data-field=state]').textContent === 'done' && r.querySelector('[data-field=done]').textContent === '6 / 6'; }",
                id, new() { Timeout = 240_000 });
        }
        catch (TimeoutException)
        {
            Assert.Fail($"the batch row never showed done 6 / 6: {await page.TextContentAsync($"tr[data-batch='{id}']")}; " +
                $"API: {await app.Http.GetStringAsync($"/api/precompute/{id}")}; page errors: {string.Join(" | ", app.PageErrors[page])}");
        }
        Assert.Equal("running", shownFirst); // rendered running, turned done by the page's polling alone
        Assert.Equal("100.0 %", await page.TextContentAsync($"tr[data-batch='{id}'] [data-field=percent]"));

        var batch = await app.Http.GetFromJsonAsync<JsonElement>($"/api/precompute/{id}");
        Assert.Equal((6, 0, "done"), (batch.GetProperty("done").GetInt32(), batch.GetProperty("failed").GetInt32(), batch.GetProperty("state").GetString()));

        // The Compare page's request for each image (its labelled class): 200 with the map, not 202 queued.
        var all = await app.Http.GetFromJsonAsync<JsonElement>("/api/images");
        foreach (string image in images)
        {
            var info = all.EnumerateArray().Single(i => i.GetProperty("id").GetString() == image);
            var r = await app.Http.GetAsync($"/api/explanations?model={Model}&method=scorecam&image={Uri.EscapeDataString(image)}&class={info.GetProperty("classIndex").GetInt32()}");
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        }
    }
}
