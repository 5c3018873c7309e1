using System.Diagnostics;
using VacCnn.Engine.Data;
using VacCnn.Engine.Tests.Jobs;
using VacCnn.Engine.Store;
using VacCnn.Engine.Tests.Evaluation;
using VacCnn.TestSupport;
using Xunit.Abstractions;

namespace VacCnn.Engine.Tests.Faults;

/// <summary>
/// The precompute process (the CLI: same code path as the background job) is SIGKILLed twice while it commits
/// shards. After every kill each matrix on disk is complete (atomic writes: no half-written .npy is ever visible),
/// and after the last restart the result is exactly that of an uninterrupted run, with every shard committed once.
/// </summary>
public class KillDuringPrecomputeTests(ITestOutputHelper output)
{
    // A model slow enough (about 100 images/s here) that the poll sees the run in the middle.
    private const string Model = "mobilenet_v2_1.0_224_quant";
    private const int Images = 150, ShardSize = 5;

    [Fact]
    public void Killed_twice_while_committing_shards_every_visible_matrix_is_whole_and_the_run_resumes_exactly()
    {
        using var images = EvaluationTests.SampleSubset(Images);
        using var reference = new TempDir();
        using var data = new TempDir();
        byte[] expected;
        EvaluationSummary expectedSummary;
        using (var engine = EvaluationTests.CreateEngine(reference.Path, shardSize: ShardSize, batchSize: ShardSize))
        {
            expectedSummary = engine.Evaluation.Evaluate(Model, ImageSet.Open(images.Path, engine.Classes));
            expected = File.ReadAllBytes(engine.Store.ConfidencePath(expectedSummary.RunId));
        }

        var store = new ResultStore(data.Path);
        int shards = Images / ShardSize;
        var killedInProgress = new HashSet<int>();
        foreach (int killAt in new[] { 3, shards / 2 })
        {
            using var cli = StartCli(images.Path, data.Path);
            // Watch the shard matrices appear on disk (each is written just before its shard commits), and kill only
            // while a shard is leased and not yet committed, so the kill always interrupts work that must be redone.
            int written = 0;
            var deadline = DateTime.UtcNow.AddMinutes(5);
            string runs = Path.Combine(data.Path, "runs");
            while (!cli.HasExited && DateTime.UtcNow < deadline)
            {
                written = Directory.Exists(runs) ? Directory.EnumerateFiles(runs, "shard-*.npy", SearchOption.AllDirectories).Count() : 0;
                if (written >= killAt && ShardsInProgress(store).Count > 0) break;
                Thread.Sleep(5);
            }
            // (Reading stderr only when it failed: ReadToEnd in an eagerly built message would wait for the exit.)
            if (cli.HasExited) Assert.Fail($"the run ended before the kill at {killAt} shards: " + cli.StandardError.ReadToEnd());
            // SIGKILL, possibly in the middle of writing a shard matrix.
            cli.Kill();
            cli.WaitForExit();
            // Read after the kill: a shard that committed between the poll and the kill is not counted.
            killedInProgress.UnionWith(ShardsInProgress(store));
            output.WriteLine($"killed after {written} shard matrices were written; {store.GetShardCommits(store.ListRuns().Single().RunId).Count} shards committed");
            AssertEveryMatrixIsWhole(data.Path);
            Assert.NotEqual(RunStates.Done, store.ListRuns().Single().State);
        }

        using (var last = StartCli(images.Path, data.Path))
        {
            string stdout = last.StandardOutput.ReadToEnd();
            last.WaitForExit();
            Assert.True(last.ExitCode == 0, last.StandardError.ReadToEnd());
        }
        var finished = store.ListRuns().Single();
        Assert.Equal(RunStates.Done, finished.State);
        Assert.Equal(expected, File.ReadAllBytes(store.ConfidencePath(finished.RunId)));
        var summary = store.GetSummary(finished.RunId)!;
        Assert.Equal((expectedSummary.Images, expectedSummary.Top1, expectedSummary.Top5), (summary.Images, summary.Top1, summary.Top5));
        Assert.Equal(Enumerable.Range(0, shards), store.GetShardCommits(finished.RunId).Select(c => c.Shard));
        // The shards the kills interrupted were taken again and redone; the others ran once.
        Assert.NotEmpty(killedInProgress);
        foreach (var s in store.GetShards(finished.RunId))
            Assert.True(killedInProgress.Contains(s.Index) ? s.Attempts >= 2 : s.Attempts >= 1, $"shard {s.Index}: {s.Attempts} attempts");
    }

    /// <summary>Shards a worker has leased and not committed (none before the run exists).</summary>
    private static IReadOnlyCollection<int> ShardsInProgress(ResultStore store)
    {
        var run = store.ListRuns().SingleOrDefault();
        return run is null ? [] : store.GetShards(run.RunId).Where(s => s.State == RunStates.Running).Select(s => s.Index).ToList();
    }

    /// <summary>Every .npy visible under runs/ parses and its size matches its header.</summary>
    private static void AssertEveryMatrixIsWhole(string data)
    {
        foreach (var f in Directory.EnumerateFiles(Path.Combine(data, "runs"), "*.npy", SearchOption.AllDirectories))
        {
            var m = Npy.ReadFloats(f);
            Assert.Equal(m.Shape.Aggregate(1L, (a, d) => a * d), m.Data.LongLength);
            Assert.True(m.Shape[0] is > 0 and <= ShardSize && m.Shape[1] == 1000, $"{f}: shape [{string.Join(",", m.Shape)}]");
        }
    }

    private static Process StartCli(string images, string data)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { ResumeTests.CliDll(), "evaluate", "--models", TestPaths.Models, "--images", images, "--data", data,
                     "--imagenet", TestPaths.ImageNet, "--plugins", TestPaths.Plugins, "--model", Model, "--shard-size", ShardSize.ToString(),
                     "--batch-size", ShardSize.ToString(), "--device", "cpu", "--json", "--no-progress" })
            psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }
}
