using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;
using Hangfire;
using Hangfire.Storage;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using VacCnn.Engine.Store;
using VacCnn.TestSupport;

namespace VacCnn.Web.Tests;

[Collection(WebCollection.Name)]
public sealed partial class WebHostTests(WebAppFixture app)
{
    private const string EvaluatedModel = "mobilenet_v2_1.0_224_quant";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private HttpClient Client() => app.Factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = true });

    [Fact]
    public async Task ModelsPageListsEverySharedModel()
    {
        using var client = Client();
        var response = await client.GetAsync("/");
        string html = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var folders = Directory.GetDirectories(TestPaths.Models).Select(Path.GetFileName).ToList();
        Assert.Equal(11, folders.Count);
        foreach (string? id in folders) Assert.Contains(id!, html);

        using var doc = JsonDocument.Parse(await client.GetStringAsync("/api/models"));
        int loaded = doc.RootElement.GetProperty("models").GetArrayLength();
        int failed = doc.RootElement.GetProperty("failed").GetArrayLength();
        Assert.Equal(11, loaded + failed);
    }

    [Fact]
    public async Task PagesUseAStrictContentSecurityPolicy()
    {
        using var client = Client();
        foreach (string path in new[] { "/", "/Compare", "/Admin", "/Plugins" })
        {
            var response = await client.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            string csp = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
            Assert.Contains("script-src 'self'", csp);
            string html = await response.Content.ReadAsStringAsync();
            Assert.DoesNotContain("style=\"", html);
            Assert.DoesNotMatch(InlineScript(), html);
        }
    }

    [Fact]
    public async Task PluginsApiListsTheOnnxPlugin()
    {
        using var client = Client();
        using var doc = JsonDocument.Parse(await client.GetStringAsync("/api/plugins"));
        var onnx = doc.RootElement.GetProperty("plugins").EnumerateArray()
            .Single(p => p.GetProperty("name").GetString() == "VacCnn.Models.Onnx");
        Assert.Equal("loaded", onnx.GetProperty("status").GetString());
        Assert.True(onnx.GetProperty("modelSources").GetArrayLength() > 0);
        Assert.Contains("VacCnn.Models.Onnx", await client.GetStringAsync("/Plugins"));
    }

    [Fact]
    public async Task EvaluatingAModelRunsHangfireJobsAndShowsItsTop1()
    {
        using var client = Client();
        var post = await PostAdmin(client, "EvaluateModel", new() { ["modelId"] = EvaluatedModel });
        Assert.Equal(HttpStatusCode.OK, post.StatusCode);

        // Poll the same endpoint the admin page polls until the jobs have finished the run.
        JsonElement run = default;
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            var runs = JsonSerializer.Deserialize<JsonElement>(await client.GetStringAsync("/api/runs"), Json);
            run = runs.EnumerateArray().FirstOrDefault(r => r.GetProperty("modelId").GetString() == EvaluatedModel);
            string? state = run.ValueKind == JsonValueKind.Object ? run.GetProperty("state").GetString() : null;
            if (state == RunStates.Failed) Assert.Fail("run failed: " + run.GetProperty("error").GetString());
            if (state == RunStates.Done) break;
            await Task.Delay(500);
        }
        if (run.ValueKind != JsonValueKind.Object || run.GetProperty("state").GetString() != RunStates.Done)
        {
            // Say why: a shard job that exhausted its retries is visible only in Hangfire.
            var monitor = app.Factory.Services.GetRequiredService<JobStorage>().GetMonitoringApi();
            var failures = monitor.FailedJobs(0, 5).Select(j => j.Value.ExceptionType + ": " + j.Value.ExceptionMessage);
            Assert.Fail($"run not done after 90 s (run: {run}); failed jobs: {string.Join(" | ", failures)}");
        }
        string runId = run.GetProperty("runId").GetString()!;
        Assert.Equal(WebAppFixture.ImageCount, run.GetProperty("totalImages").GetInt32());
        Assert.Equal(2, run.GetProperty("shardsDone").GetInt32());

        // Recompute top-1 independently from the stored predictions.
        var predictions = new ResultStore(app.DataDir).GetPredictions(runId);
        Assert.NotEmpty(predictions);
        double expected = (double)predictions.Count(p => p.Top1Correct) / predictions.Count;
        Assert.True(expected > 0.5, $"top-1 {expected:P1} on {predictions.Count} images is implausibly low");

        using var models = JsonDocument.Parse(await client.GetStringAsync("/api/models"));
        var card = models.RootElement.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("id").GetString() == EvaluatedModel);
        Assert.Equal(expected, card.GetProperty("top1").GetDouble(), 9);
        Assert.Equal(runId, card.GetProperty("runId").GetString());

        string html = await client.GetStringAsync("/");
        var row = ModelRow(EvaluatedModel).Match(html);
        Assert.True(row.Success, "model row not found on the models page");
        Assert.Contains(Services.Format.Percent(expected), row.Value);

        using var detail = JsonDocument.Parse(await client.GetStringAsync($"/api/runs/{runId}"));
        Assert.Equal(2, detail.RootElement.GetProperty("shards").GetArrayLength());
        Assert.Equal(JsonValueKind.Array, detail.RootElement.GetProperty("skips").ValueKind);
    }

    [Fact]
    public async Task TheAdminPageShowsWhichWorkerRunsWhichShard()
    {
        // A run whose shards 1 and 3 are leased by this process, as a worker would hold them.
        var store = new ResultStore(app.DataDir);
        var run = store.GetOrCreateRun("workers-shown", "fp-model-workers", "fp-images-workers", "/images", 40, 10);
        var one = store.TryClaimShard(run.RunId, 1, TimeSpan.FromMinutes(5));
        var three = store.TryClaimShard(run.RunId, 3, TimeSpan.FromMinutes(5));
        Assert.Equal(ShardClaimResult.Claimed, one.Result);
        Assert.Equal(ShardClaimResult.Claimed, three.Result);
        // A lease that has run out (its worker stopped renewing it) is not shown either.
        Assert.Equal(ShardClaimResult.Claimed, store.TryClaimShard(run.RunId, 2, TimeSpan.FromMilliseconds(1)).Result);
        await Task.Delay(50);
        string expected = $"{Environment.MachineName} · pid {Environment.ProcessId}: shards 1, 3";
        try
        {
            using var client = Client();
            var runs = JsonSerializer.Deserialize<JsonElement>(await client.GetStringAsync("/api/runs"), Json);
            var view = runs.EnumerateArray().Single(r => r.GetProperty("runId").GetString() == run.RunId);
            var worker = Assert.Single(view.GetProperty("workers").EnumerateArray().ToList());
            Assert.Equal($"{Environment.MachineName} · pid {Environment.ProcessId}", worker.GetProperty("worker").GetString());
            Assert.Equal([1, 3], worker.GetProperty("shards").EnumerateArray().Select(e => e.GetInt32()).ToArray());
            Assert.Contains(expected, System.Net.WebUtility.HtmlDecode(await client.GetStringAsync("/Admin")));

            using var detail = JsonDocument.Parse(await client.GetStringAsync($"/api/runs/{run.RunId}"));
            var shards = detail.RootElement.GetProperty("shards").EnumerateArray().ToList();
            Assert.Equal($"{Environment.MachineName} · pid {Environment.ProcessId}", shards[1].GetProperty("worker").GetString());
            Assert.Equal(JsonValueKind.Null, shards[0].GetProperty("worker").ValueKind);

            // Given back: no longer shown.
            store.ReleaseShard(run.RunId, 1, one.Owner);
            store.ReleaseShard(run.RunId, 3, three.Owner);
            runs = JsonSerializer.Deserialize<JsonElement>(await client.GetStringAsync("/api/runs"), Json);
            view = runs.EnumerateArray().Single(r => r.GetProperty("runId").GetString() == run.RunId);
            Assert.Empty(view.GetProperty("workers").EnumerateArray());
        }
        finally { store.DeleteRun(run.RunId); }
    }

    [Fact]
    public async Task UnknownModelIsRejectedWith400()
    {
        using var client = Client();
        var response = await PostAdmin(client, "EvaluateModel", new() { ["modelId"] = "no_such_model" });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("no_such_model", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task SchedulesAreValidatedAddedAndDeleted()
    {
        using var client = Client();
        var bad = await PostAdmin(client, "AddSchedule", new() { ["cron"] = "every tuesday", ["modelId"] = "" });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("not a valid cron expression", await bad.Content.ReadAsStringAsync());

        var unknown = await PostAdmin(client, "AddSchedule", new() { ["cron"] = "0 3 * * *", ["modelId"] = "no_such_model" });
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);

        var store = new ResultStore(app.DataDir);
        int before = store.ListSchedules().Count;
        var ok = await PostAdmin(client, "AddSchedule", new() { ["cron"] = "0 3 * * *", ["modelId"] = EvaluatedModel });
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var added = store.ListSchedules().Single(s => s.ModelId == EvaluatedModel && s.Cron == "0 3 * * *");
        Assert.Equal(before + 1, store.ListSchedules().Count);
        Assert.Contains(added.Id, await client.GetStringAsync("/Admin"));

        var deleted = await PostAdmin(client, "DeleteSchedule", new() { ["id"] = added.Id });
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        Assert.DoesNotContain(store.ListSchedules(), s => s.Id == added.Id);
    }

    [Fact]
    public async Task PrecomputeFormRefusesBadSelectionsSchedulesWithCronAndStartsABatchWhoseProgressTheApiReports()
    {
        const string model = "mobilenet_v1_0.25_128_quant";
        using var client = Client();
        string image = Path.GetFileName(Directory.GetFiles(app.ImagesRoot).Order(StringComparer.Ordinal).First());
        async Task Refused(Dictionary<string, string> form, string mentioned)
        {
            var r = await PostAdmin(client, "Precompute", form);
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Contains(mentioned, WebUtility.HtmlDecode(await r.Content.ReadAsStringAsync()));
        }
        await Refused(new() { ["models"] = "no_such_model", ["methods"] = "gradcam" }, "no_such_model");
        await Refused(new() { ["models"] = model, ["methods"] = "gradcam", ["classes"] = "1, fish" }, "Classes must be class indices");
        await Refused(new() { ["models"] = model, ["methods"] = "gradcam", ["classes"] = "1000" }, "out of range");
        await Refused(new() { ["models"] = model, ["methods"] = "gradcam", ["images"] = "../../etc/passwd" }, "no image");
        await Refused(new() { ["models"] = model, ["methods"] = "gradcam", ["cron"] = "every tuesday" }, "not a valid cron expression");

        // With cron: a schedule, registered with Hangfire, that runs the batch; nothing starts now.
        var store = new ResultStore(app.DataDir);
        int batchesBefore = store.ListBatches().Count;
        var scheduled = await PostAdmin(client, "Precompute", new() { ["models"] = model, ["methods"] = "gradcam", ["images"] = image, ["cron"] = "0 2 * * *" });
        Assert.Equal(HttpStatusCode.OK, scheduled.StatusCode);
        var schedule = Assert.Single(store.ListSchedules(), s => s.Precompute != null);
        Assert.Equal("0 2 * * *", schedule.Cron);
        using (var connection = app.Factory.Services.GetRequiredService<JobStorage>().GetConnection())
            Assert.Contains(connection.GetRecurringJobs(), j => j.Id == schedule.Id && j.Job.Method.Name == "StartScheduled");
        Assert.Contains($"precompute gradcam × {model} × 1 image(s)", WebUtility.HtmlDecode(await client.GetStringAsync("/Admin")));
        Assert.Equal(batchesBefore, store.ListBatches().Count);
        Assert.Equal(HttpStatusCode.OK, (await PostAdmin(client, "DeleteSchedule", new() { ["id"] = schedule.Id })).StatusCode);

        // Without: the batch starts; /api/precompute/{id} reports it until done.
        var started = await PostAdmin(client, "Precompute", new() { ["models"] = model, ["methods"] = "gradcam", ["images"] = image });
        Assert.Equal(HttpStatusCode.OK, started.StatusCode);
        string id = VacCnn.Engine.Jobs.ExplanationPrecompute.BatchId(new() { Models = [model], Methods = ["gradcam"], Images = [image] });
        JsonElement batch = default;
        for (int i = 0; i < 600; i++)
        {
            batch = JsonSerializer.Deserialize<JsonElement>(await client.GetStringAsync($"/api/precompute/{id}"), Json);
            if (batch.GetProperty("state").GetString() != "running") break;
            await Task.Delay(100);
        }
        Assert.Equal(("done", 1, 1, 1.0), (batch.GetProperty("state").GetString(), batch.GetProperty("total").GetInt32(),
            batch.GetProperty("done").GetInt32(), batch.GetProperty("fraction").GetDouble()));
        Assert.Contains($"gradcam × {model} × 1 image(s)", batch.GetProperty("selection").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/api/precompute/nope")).StatusCode);
    }

    [Fact]
    public async Task PostWithoutAntiforgeryTokenIsRejected()
    {
        using var client = Client();
        var response = await client.PostAsync("/Admin?handler=EvaluateAll", new FormUrlEncodedContent([]));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task HangfireDashboardAnswersLocalRequestsOnly()
    {
        var local = await app.Factory.Server.SendAsync(c =>
        {
            c.Request.Method = "GET";
            c.Request.Path = "/hangfire";
            c.Connection.RemoteIpAddress = IPAddress.Loopback;
        });
        Assert.Equal(200, local.Response.StatusCode);

        var remote = await app.Factory.Server.SendAsync(c =>
        {
            c.Request.Method = "GET";
            c.Request.Path = "/hangfire";
            c.Connection.RemoteIpAddress = IPAddress.Parse("203.0.113.7");
        });
        Assert.Contains(remote.Response.StatusCode, new[] { 401, 403 });
    }

    [Fact]
    public async Task UnknownRunIs404()
    {
        using var client = Client();
        var response = await client.GetAsync("/api/runs/doesnotexist");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    /// <summary>GETs /Admin for the antiforgery token (cookie + field), then POSTs the form to a handler.</summary>
    private static async Task<HttpResponseMessage> PostAdmin(HttpClient client, string handler, Dictionary<string, string> fields)
    {
        string page = await client.GetStringAsync("/Admin");
        var token = AntiforgeryField().Match(page);
        Assert.True(token.Success, "no antiforgery token on /Admin");
        fields["__RequestVerificationToken"] = WebUtility.HtmlDecode(token.Groups[1].Value);
        return await client.PostAsync($"/Admin?handler={handler}", new FormUrlEncodedContent(fields));
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();

    [GeneratedRegex("<script(?![^>]*\\ssrc=)[^>]*>")]
    private static partial Regex InlineScript();

    private static Regex ModelRow(string id) => new($"<tr data-model-id=\"{Regex.Escape(id)}\">.*?</tr>", RegexOptions.Singleline);
}
