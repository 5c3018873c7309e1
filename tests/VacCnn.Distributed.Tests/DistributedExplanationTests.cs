using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Hangfire.InMemory;
using Hangfire;
using VacCnn.Contracts;
using VacCnn.Engine;
using VacCnn.Engine.Configuration;
using VacCnn.Engine.Explanations;
using VacCnn.Engine.Jobs;
using VacCnn.TestSupport;
using VacCnn.Web.Hosting;
using Xunit.Abstractions;

namespace VacCnn.Distributed.Tests;

/// <summary>
/// Explanations on a cluster for real: a <c>Role=web</c> host and two <c>Role=worker</c> processes (the built host) on
/// a private PostgreSQL and one data folder. Requests go to the web host, which computes nothing; the workers do, the
/// answer and the host's log name the worker, and the maps equal those of a single process. A worker SIGKILLed in the
/// middle of a BBMP leaves the job to the other one.
/// </summary>
public sealed partial class DistributedExplanationTests(ITestOutputHelper output)
{
    private const string Small = "mobilenet_v1_0.25_128_quant", Second = "mobilenet_v1_0.5_160_quant";
    private static readonly string[] Photos = ["n01443537_goldfish.JPEG", "n02007558_flamingo.JPEG", "n01440764_tench.JPEG"];
    private const int LeaseSeconds = 8;
    // Long enough (about 6 s on this machine) to be killed in the middle.
    private static readonly Dictionary<string, double> SlowBbmp = new() { ["iterations"] = 1200 };

    [PostgresFact]
    public async Task Explanations_asked_of_a_web_host_are_computed_by_the_workers_equal_one_process_and_survive_a_killed_worker()
    {
        using var models = new TempDir("vaccnn-dx-models");
        using var images = new TempDir("vaccnn-dx-images");
        using var reference = new TempDir("vaccnn-dx-ref");
        using var shared = new TempDir("vaccnn-dx-shared");
        using var logs = new TempDir("vaccnn-dx-logs");
        foreach (string id in new[] { Small, Second }) Directory.CreateSymbolicLink(models.Combine(id), Path.Combine(TestPaths.Models, id));
        foreach (string f in Photos) File.Copy(Path.Combine(TestPaths.ImageNetSamples, f), images.Combine(f));

        using var pg = PrivatePostgres.Start();
        int port = TestPaths.FreeLoopbackPort();
        var processes = new List<Process>();
        try
        {
            string[] extra = [$"--VacCnn:ShardLeaseSeconds={LeaseSeconds}", "--VacCnn:ExplanationWorkers=1", "--VacCnn:InteractiveWorkers=1"];
            var host = HostProcess.Start("host", models.Path, images.Path, shared.Path, pg.ConnectionString, logs.Path, "web", $"http://127.0.0.1:{port}", extra);
            processes.Add(host);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };
            await ClusterProcesses.WaitUntil(async () => await HostProcess.TryGet(http, "/api/explainers") != null, TimeSpan.FromMinutes(3), "host start", logs.Path, processes);
            var w1 = HostProcess.Start("worker1", models.Path, images.Path, shared.Path, pg.ConnectionString, logs.Path, "worker", null, extra);
            var w2 = HostProcess.Start("worker2", models.Path, images.Path, shared.Path, pg.ConnectionString, logs.Path, "worker", null, extra);
            processes.AddRange([w1, w2]);
            var workers = new[] { w1.Id, w2.Id };

            // 1. Grad-CAM of every photo with both models, long-polled: each answer names a worker, never the host.
            var gradcams = new List<(string Model, string Photo, string Key, int Pid)>();
            foreach (string model in new[] { Small, Second })
                foreach (string photo in Photos)
                {
                    JsonElement body = default;
                    // The first requests may come before the workers have started: ask again until done.
                    await ClusterProcesses.WaitUntil(async () =>
                    {
                        using var r = await http.GetAsync($"/api/explanations?model={model}&method=gradcam&image={photo}&class=1&wait=10000");
                        if (r.StatusCode != HttpStatusCode.OK) return false;
                        body = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.Clone();
                        return true;
                    }, TimeSpan.FromMinutes(3), $"Grad-CAM of {model} for {photo}", logs.Path, processes);
                    int pid = PidOf(body.GetProperty("computedBy").GetString());
                    Assert.Contains(pid, workers);
                    gradcams.Add((model, photo, body.GetProperty("key").GetString()!, pid));
                }
            string hostLog = File.ReadAllText(Path.Combine(logs.Path, "host.log"));
            foreach (var g in gradcams) Assert.Contains($"computed by {Environment.MachineName} · pid {g.Pid}", hostLog);
            Assert.All(hostLog.Split('\n').Where(l => l.Contains("computed by", StringComparison.Ordinal)), l => Assert.DoesNotContain($"pid {host.Id}", l));

            // 2. A slow BBMP: kill the worker running it; the other one takes the job over and finishes it.
            string bbmpUrl = $"/api/explanations?model={Small}&method=bbmp&image={Photos[0]}&class=1&iterations={SlowBbmp["iterations"]}";
            using (var first = await http.GetAsync(bbmpUrl)) Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
            var options = new PostgreSqlStorageOptions { PrepareSchemaIfNecessary = false, SchemaName = VacCnnRoles.HangfireSchema };
            var monitoring = new PostgreSqlStorage(new NpgsqlConnectionFactory(pg.ConnectionString, options), options).GetMonitoringApi();
            int victim = 0;
            await ClusterProcesses.WaitUntil(() =>
            {
                var running = monitoring.ProcessingJobs(0, 10).Select(j => j.Value.ServerId).FirstOrDefault(s => s != null && s.Contains("-explain", StringComparison.Ordinal));
                victim = running != null && ServerPid().Match(running) is { Success: true } m ? int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
                return Task.FromResult(victim != 0);
            }, TimeSpan.FromMinutes(2), "a worker running the BBMP", logs.Path, processes);
            var killed = processes.Single(p => p.Id == victim);
            Assert.Contains(victim, workers);
            await Task.Delay(1000); // in the middle of it, not at its start
            killed.Kill(); // SIGKILL
            await killed.WaitForExitAsync();
            output.WriteLine($"killed worker pid {victim} while it ran the BBMP");
            int survivor = workers.Single(p => p != victim);

            JsonElement bbmp = default;
            await ClusterProcesses.WaitUntil(async () =>
            {
                using var r = await http.GetAsync(bbmpUrl + "&wait=5000");
                if (r.StatusCode == HttpStatusCode.OK) { bbmp = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.Clone(); return true; }
                Assert.Equal(HttpStatusCode.Accepted, r.StatusCode); // running or queued again, never failed
                return false;
            }, TimeSpan.FromMinutes(3), "the BBMP finished by the other worker", logs.Path, processes);
            Assert.Equal(survivor, PidOf(bbmp.GetProperty("computedBy").GetString()));

            // 3. The same maps as one process computes (embedded store, the same engine code).
            var sharedCache = new ExplanationCache(Path.Combine(shared.Path, "explanations"), 1 << 20);
            using var engine = VacCnnEngine.Create(new VacCnnOptions
            {
                Models = models.Path, Images = images.Path, ImageNet = TestPaths.ImageNet, Data = reference.Path, Plugins = TestPaths.Plugins,
                Device = ExecutionDevice.Cpu,
            });
            var storage = new InMemoryStorage();
            var single = ExplanationService.Create(engine, new HangfireExplanationScheduler(new BackgroundJobClient(storage), storage, 8));
            foreach (var (model, photo, key, _) in gradcams)
                AssertSameMap(single, sharedCache, new ExplanationQuery(model, photo, "gradcam", ClassIndex: 1), key);
            AssertSameMap(single, sharedCache, new ExplanationQuery(Small, Photos[0], "bbmp", ClassIndex: 1, Settings: SlowBbmp), bbmp.GetProperty("key").GetString()!);
            Assert.False(processes.Single(p => p.Id == survivor).HasExited, "the surviving worker died: " + HostProcess.AllTails(logs.Path));
        }
        finally
        {
            HostProcess.StopAll(processes);
        }
    }

    private static void AssertSameMap(ExplanationService single, ExplanationCache sharedCache, ExplanationQuery query, string key)
    {
        var target = single.Resolve(query);
        Assert.Equal(key, target.Key); // same model, image and settings give the same key in every process
        var expected = single.ComputeAndStore(target, CancellationToken.None);
        var stored = sharedCache.TryGet(key);
        Assert.NotNull(stored);
        Assert.Equal(expected.CropMap.Values, stored.CropMap.Values);
        Assert.Equal((expected.ClassIndex, expected.Probability), (stored.ClassIndex, stored.Probability));
    }

    private static int PidOf(string? computedBy) =>
        computedBy != null && ComputedByPid().Match(computedBy) is { Success: true } m ? int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)
            : throw new Xunit.Sdk.XunitException($"computedBy '{computedBy}' names no process");

    [GeneratedRegex(@"pid (\d+)$")]
    private static partial Regex ComputedByPid();

    // Our Hangfire server names are vaccnn-PID-lane; the server id is NAME:GUID.
    [GeneratedRegex(@"^vaccnn-(\d+)-")]
    private static partial Regex ServerPid();
}
