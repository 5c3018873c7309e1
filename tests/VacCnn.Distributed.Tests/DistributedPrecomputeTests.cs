using System.Diagnostics;
using System.Text.Json;
using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using VacCnn.Contracts;
using VacCnn.Engine;
using VacCnn.Engine.Configuration;
using VacCnn.Engine.Data;
using VacCnn.Engine.Jobs;
using VacCnn.Engine.Store;
using VacCnn.TestSupport;
using VacCnn.Web.Hosting;
using Xunit.Abstractions;

namespace VacCnn.Distributed.Tests;

/// <summary>
/// Scale-out for real: one web host and two worker processes (the built host, <c>--VacCnn:Role=worker</c>) share a
/// private PostgreSQL and a data folder; every shared model is evaluated, one worker is SIGKILLed in the middle of
/// a shard, and the result must equal a single-process run byte for byte, with every shard committed exactly once.
/// </summary>
public class DistributedPrecomputeTests(ITestOutputHelper output)
{
    // A spread subset of the 1000 samples keeps CI time bounded (two passes over 11 models on 2 cores);
    // VACCNN_DISTRIBUTED_IMAGES=1000 runs the whole set.
    private static readonly int ImageCount =
        int.TryParse(Environment.GetEnvironmentVariable("VACCNN_DISTRIBUTED_IMAGES"), out int n) && n > 0 ? n : 200;
    private const int ShardSize = 20;
    private const int BatchSize = 10;
    private const int LeaseSeconds = 10;

    [PostgresFact]
    public async Task Two_workers_and_a_host_on_PostgreSQL_equal_a_single_process_run_after_one_worker_is_killed()
    {
        using var images = new TempDir("vaccnn-dist-images");
        using var reference = new TempDir("vaccnn-dist-ref");
        using var shared = new TempDir("vaccnn-dist-shared");
        using var logs = new TempDir("vaccnn-dist-logs");
        var all = Directory.GetFiles(TestPaths.ImageNetSamples).Order(StringComparer.Ordinal).ToList();
        int step = Math.Max(1, all.Count / ImageCount);
        foreach (string file in all.Where((_, i) => i % step == 0).Take(ImageCount))
            File.Copy(file, Path.Combine(images.Path, Path.GetFileName(file)));

        // The single-process reference: the same engine code, embedded store.
        var expected = new Dictionary<string, (string RunId, byte[] Confidence, IReadOnlyList<AccuracyRow> Accuracy, EvaluationSummary Summary)>();
        using (var engine = VacCnnEngine.Create(Options(images.Path, reference.Path)))
        {
            var set = ImageSet.Open(images.Path, engine.Classes);
            foreach (var model in engine.Models.Classifiers)
            {
                var s = engine.Evaluation.Evaluate(model.Card.Id, set);
                expected[model.Card.Id] = (s.RunId, File.ReadAllBytes(engine.Store.ConfidencePath(s.RunId)), engine.Store.GetAccuracy(s.RunId), s);
            }
        }
        Assert.Equal(11, expected.Count);

        using var pg = PrivatePostgres.Start();
        // Hangfire's schema is installed by the processes themselves, under an advisory lock (VacCnnRoles); not here:
        // its installer's type initializer grabs Hangfire's global logger, which in this test process may belong to a
        // web host another test has already disposed (seen: ObjectDisposedException 'LoggerFactory').
        var store = new ResultStore(shared.Path, StoreDatabase.Postgres(pg.ConnectionString));

        int port = TestPaths.FreeLoopbackPort();
        var processes = new List<Process>();
        try
        {
            var host = StartHost("host", images.Path, shared.Path, pg.ConnectionString, logs.Path, "web", $"http://127.0.0.1:{port}");
            processes.Add(host);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
            await WaitUntil(async () => (await TryGet(http, "/api/runs")) != null, TimeSpan.FromMinutes(3), "host start", logs.Path, processes);
            var w1 = StartHost("worker1", images.Path, shared.Path, pg.ConnectionString, logs.Path, "worker", null);
            var w2 = StartHost("worker2", images.Path, shared.Path, pg.ConnectionString, logs.Path, "worker", null);
            processes.AddRange([w1, w2]);

            // What the admin page's "Evaluate all" does: one job that plans every run and queues its shards.
            var options = new PostgreSqlStorageOptions { PrepareSchemaIfNecessary = false, SchemaName = VacCnnRoles.HangfireSchema };
            var storage = new PostgreSqlStorage(new NpgsqlConnectionFactory(pg.ConnectionString, options), options);
            new BackgroundJobClient(storage).Enqueue<EvaluationJobs>(j => j.EvaluateAll());

            // Kill worker 1 in the middle (half the shards committed, some by it) while it holds a shard.
            int totalShards = expected.Count * ((ImageCount + ShardSize - 1) / ShardSize);
            ShardInfo? victim = null;
            await WaitUntil(() =>
            {
                var runs = store.ListRuns();
                var commits = runs.SelectMany(r => store.GetShardCommits(r.RunId)).ToList();
                bool middle = commits.Count >= totalShards / 2 && commits.Any(c => ShardOwner.ProcessIdOf(c.Owner) == w1.Id);
                victim = middle
                    ? runs.SelectMany(r => store.GetShards(r.RunId)).FirstOrDefault(s => s.State == RunStates.Running && ShardOwner.ProcessIdOf(s.Owner) == w1.Id)
                    : null;
                return Task.FromResult(victim != null);
            }, TimeSpan.FromMinutes(10), "worker 1 holding a shard", logs.Path, processes);
            w1.Kill(); // SIGKILL
            await w1.WaitForExitAsync();
            output.WriteLine($"killed worker 1 (pid {w1.Id}) in shard {victim!.Index} of run {victim.RunId}");

            await WaitUntil(() => Task.FromResult(store.ListRuns().Count(r => r.State == RunStates.Done) == expected.Count),
                TimeSpan.FromMinutes(15), "all runs done", logs.Path, processes);
            Assert.False(w2.HasExited, "worker 2 died: " + Tail(logs.Path, "worker2"));

            foreach (var (model, want) in expected)
            {
                var run = store.GetRun(want.RunId);
                Assert.True(run != null, $"{model}: the distributed run has another id (fingerprints differ)");
                Assert.Equal(RunStates.Done, run.State);
                Assert.True(want.Confidence.AsSpan().SequenceEqual(File.ReadAllBytes(store.ConfidencePath(want.RunId))), $"{model}: confidence matrix differs");
                Assert.Equal(want.Accuracy, store.GetAccuracy(want.RunId));
                var got = store.GetSummary(want.RunId)!;
                Assert.Equal((want.Summary.Images, want.Summary.Skipped, want.Summary.Top1, want.Summary.Top5), (got.Images, got.Skipped, got.Top1, got.Top5));
                Assert.Equal(want.Summary.PerRoot.OrderBy(p => p.Key), got.PerRoot.OrderBy(p => p.Key));
                // Every shard completed exactly once, by one of the two workers (the host runs no jobs).
                var commits = store.GetShardCommits(want.RunId);
                Assert.Equal(Enumerable.Range(0, run.ShardCount), commits.Select(c => c.Shard));
                Assert.All(commits, c => Assert.Contains(ShardOwner.ProcessIdOf(c.Owner), new int?[] { w1.Id, w2.Id }));
                Assert.NotNull(store.FinalizedBy(want.RunId));
            }
            var allCommits = expected.Values.SelectMany(e => store.GetShardCommits(e.RunId)).ToList();
            Assert.Contains(allCommits, c => ShardOwner.ProcessIdOf(c.Owner) == w1.Id);
            Assert.Contains(allCommits, c => ShardOwner.ProcessIdOf(c.Owner) == w2.Id);
            // The shard the victim held was taken over and committed by worker 2.
            var retaken = store.GetShards(victim.RunId)[victim.Index];
            Assert.True(retaken.Attempts >= 2, $"shard {victim.Index} has {retaken.Attempts} attempt(s)");
            Assert.Equal(w2.Id, ShardOwner.ProcessIdOf(Assert.Single(store.GetShardCommits(victim.RunId), c => c.Shard == victim.Index).Owner));

            // The host reads the workers' results.
            using var runsJson = JsonDocument.Parse((await TryGet(http, "/api/runs"))!);
            Assert.Equal(expected.Count, runsJson.RootElement.EnumerateArray().Count(r => r.GetProperty("state").GetString() == RunStates.Done));
            output.WriteLine($"{expected.Count} models × {ImageCount} images, {allCommits.Count} shards: " +
                $"worker 1 committed {allCommits.Count(c => ShardOwner.ProcessIdOf(c.Owner) == w1.Id)}, worker 2 {allCommits.Count(c => ShardOwner.ProcessIdOf(c.Owner) == w2.Id)}");
        }
        finally
        {
            HostProcess.StopAll(processes);
        }
    }

    private static Process StartHost(string name, string images, string data, string pg, string logDir, string role, string? url) =>
        HostProcess.Start(name, TestPaths.Models, images, data, pg, logDir, role, url,
            $"--VacCnn:ShardSize={ShardSize}", $"--VacCnn:BatchSize={BatchSize}", $"--VacCnn:ShardLeaseSeconds={LeaseSeconds}");

    private static Task WaitUntil(Func<Task<bool>> condition, TimeSpan timeout, string what, string logDir, List<Process> processes) =>
        ClusterProcesses.WaitUntil(condition, timeout, what, logDir, processes);

    private static Task<string?> TryGet(HttpClient http, string path) => HostProcess.TryGet(http, path);

    private static string Tail(string logDir, string name) => HostProcess.Tail(logDir, name);

    private static VacCnnOptions Options(string images, string data) => new()
    {
        Models = TestPaths.Models, Images = images, ImageNet = TestPaths.ImageNet, Data = data, Plugins = TestPaths.Plugins,
        Device = ExecutionDevice.Cpu, ShardSize = ShardSize, BatchSize = BatchSize,
    };
}
