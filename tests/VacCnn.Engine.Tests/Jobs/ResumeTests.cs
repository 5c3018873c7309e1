using System.Diagnostics;
using Hangfire;
using Hangfire.InMemory;
using VacCnn.Engine.Data;
using VacCnn.Engine.Jobs;
using VacCnn.Engine.Store;
using VacCnn.Engine.Tests.Evaluation;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Jobs;

/// <summary>Crash safety: a run killed at any point and restarted gives exactly the uninterrupted result.</summary>
public class ResumeTests
{
    private const string Model = "mobilenet_v1_0.25_128_quant";

    // The kill test needs a run that lasts long enough to be interrupted: the 128-px model finishes 400 images in
    // well under a second, faster than a child process can be observed and killed; this one takes several seconds.
    private const string SlowModel = "mobilenet_v2_1.0_224_quant";

    [Fact]
    public async Task A_worker_killed_with_SIGKILL_mid_run_resumes_to_exactly_the_uninterrupted_result()
    {
        using var images = EvaluationTests.SampleSubset(400);
        using var reference = new TempDir();
        using var interrupted = new TempDir();

        // Uninterrupted, in this process.
        string refMatrix;
        using (var engine = EvaluationTests.CreateEngine(reference.Path, shardSize: 5, batchSize: 5))
        {
            var s = engine.Evaluation.Evaluate(SlowModel, ImageSet.Open(images.Path, engine.Classes));
            refMatrix = engine.Store.ConfidencePath(s.RunId);
        }

        // The CLI (same code path as the job) in a child process, killed once 2 of 80 shards are committed.
        var store = new ResultStore(interrupted.Path);
        using (var worker = StartCli(images.Path, interrupted.Path, SlowModel))
        {
            var workerLog = worker.StandardError.ReadToEndAsync(); // drained, so a full pipe never stalls the worker
            var deadline = DateTime.UtcNow.AddSeconds(120);
            while (DateTime.UtcNow < deadline && !worker.HasExited)
            {
                var run = store.ListRuns().FirstOrDefault();
                if (run != null && store.GetShards(run.RunId).Count(s => s.State == RunStates.Done) >= 2) break;
                Thread.Sleep(20);
            }
            if (worker.HasExited) Assert.Fail("the worker finished before it could be killed: " + await workerLog);
            worker.Kill(entireProcessTree: true); // SIGKILL: no chance to clean up
            worker.WaitForExit();
        }
        var killedRun = Assert.Single(store.ListRuns());
        int doneAtKill = store.GetShards(killedRun.RunId).Count(s => s.State == RunStates.Done);
        Assert.InRange(doneAtKill, 2, 79);
        Assert.NotEqual(RunStates.Done, killedRun.State);

        // Restart: the finished shards are kept, the rest is done, nothing is counted twice.
        using (var restarted = StartCli(images.Path, interrupted.Path, SlowModel))
        {
            var restartLog = restarted.StandardError.ReadToEndAsync();
            string stdout = restarted.StandardOutput.ReadToEnd();
            restarted.WaitForExit();
            Assert.True(restarted.ExitCode == 0, await restartLog);
            Assert.Contains("\"top1\"", stdout);
        }
        var shards = store.GetShards(killedRun.RunId);
        Assert.All(shards, s => Assert.Equal(RunStates.Done, s.State));
        Assert.Equal(400, store.GetPredictions(killedRun.RunId).Select(p => p.ImageIndex).Distinct().Count());
        Assert.Equal(File.ReadAllBytes(refMatrix), File.ReadAllBytes(store.ConfidencePath(killedRun.RunId)));
        var expected = new ResultStore(reference.Path).GetSummary(killedRun.RunId)!;
        var actual = store.GetSummary(killedRun.RunId)!;
        Assert.Equal((expected.Images, expected.Skipped, expected.Top1, expected.Top5), (actual.Images, actual.Skipped, actual.Top1, actual.Top5));
    }

    [Fact]
    public void Hangfire_recovery_requeues_the_unfinished_shards_after_a_restart()
    {
        using var images = EvaluationTests.SampleSubset(40);
        using var reference = new TempDir();
        using var data = new TempDir();
        string refMatrix;
        using (var engine = EvaluationTests.CreateEngine(reference.Path, shardSize: 10, batchSize: 5))
            refMatrix = engine.Store.ConfidencePath(engine.Evaluation.Evaluate(Model, ImageSet.Open(images.Path, engine.Classes)).RunId);

        using var e = EvaluationTests.CreateEngine(data.Path, shardSize: 10, batchSize: 5);
        // "Before the crash": the run was planned and one shard finished; the in-memory queue is then lost.
        var run = e.Evaluation.PlanRun(Model, ImageSet.Open(images.Path, e.Classes));
        e.Evaluation.RunShard(run.RunId, 0);

        // "After the restart": a fresh Hangfire (in-memory) with nothing queued, and the recovery step.
        var storage = new InMemoryStorage();
        var client = new BackgroundJobClient(storage);
        var jobs = new EvaluationJobs(e.Evaluation, client, new ImageSetProvider(images.Path, e.Classes));
        var activator = new InstanceActivator(jobs);
        using var server = new BackgroundJobServer(new BackgroundJobServerOptions { WorkerCount = 1, Activator = activator, SchedulePollingInterval = TimeSpan.FromMilliseconds(200) }, storage);
        int queued = new RunRecovery(e.Store, client, new RecurringJobManager(storage)).Recover();
        Assert.Equal(3, queued);

        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (e.Store.GetRun(run.RunId)!.State != RunStates.Done && DateTime.UtcNow < deadline) Thread.Sleep(100);
        Assert.Equal(RunStates.Done, e.Store.GetRun(run.RunId)!.State);
        Assert.Equal(File.ReadAllBytes(refMatrix), File.ReadAllBytes(e.Store.ConfidencePath(run.RunId)));
    }

    /// <summary>Starts <c>vaccnn evaluate</c> from this build's output.</summary>
    internal static Process StartCli(string images, string data, string model = Model)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { CliDll(), "evaluate", "--models", TestPaths.Models, "--images", images, "--data", data,
                     "--imagenet", TestPaths.ImageNet, "--plugins", TestPaths.Plugins, "--model", model, "--shard-size", "5",
                     "--batch-size", "5", "--device", "cpu", "--json", "--no-progress" })
            psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    /// <summary>The CLI built with the same configuration as this test assembly.</summary>
    internal static string CliDll() => TestPaths.BuiltAssembly(Path.Combine("tools", "VacCnn.Cli"), "vaccnn.dll");
}
