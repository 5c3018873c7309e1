using Hangfire;
using Hangfire.InMemory;
using VacCnn.Engine.Analytics;
using VacCnn.Engine.Data;
using VacCnn.Engine.Jobs;
using VacCnn.Engine.Store;
using VacCnn.Engine.Tests.Evaluation;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Analytics;

/// <summary>Two real models evaluated once on 40 real images (40 classes), shared by the tests below.</summary>
public sealed class SmallRunsFixture : IDisposable
{
    public static readonly string[] ModelIds = ["mobilenet_v1_0.25_128_quant", "mobilenet_v1_0.5_160_quant"];
    private readonly TempDir _images = EvaluationTests.SampleSubset(40);
    private readonly TempDir _data = new("vaccnn-analytics");

    public SmallRunsFixture()
    {
        Engine = EvaluationTests.CreateEngine(_data.Path, shardSize: 20);
        var set = ImageSet.Open(_images.Path, Engine.Classes);
        Runs = ModelIds.Select(id => Engine.Store.GetRun(Engine.Evaluation.Evaluate(id, set).RunId)!).ToList();
    }

    public VacCnnEngine Engine { get; }
    public IReadOnlyList<RunInfo> Runs { get; }
    public string ImagesPath => _images.Path;

    public void Dispose()
    {
        Engine.Dispose();
        _images.Dispose();
        _data.Dispose();
    }
}

/// <summary>The analytics of real runs against independent counts over the stored files.</summary>
public class AnalyticsServiceTests(SmallRunsFixture runs) : IClassFixture<SmallRunsFixture>
{
    private static int ArgMax(float[] p, int row, int n)
    {
        int best = 0;
        for (int j = 1; j < n; j++) if (p[row * n + j] > p[row * n + best]) best = j;
        return best;
    }

    [Fact]
    public void Graph_and_confusions_of_a_real_run_match_independent_counts_over_the_stored_matrix()
    {
        var run = runs.Runs[0];
        var store = runs.Engine.Store;
        var result = runs.Engine.Analytics.GetOrCompute(run);
        var (p, shape) = Npy.ReadFloats(store.ConfidencePath(run.RunId));
        var (labels, _) = Npy.ReadInts(store.LabelsPath(run.RunId));
        int n = shape[1];

        var withImages = labels.Distinct().Order().ToArray();
        Assert.Equal(40, withImages.Length);
        Assert.Equal(withImages, result.Classes);
        Assert.Equal(Enumerable.Range(0, n).Except(withImages).ToArray(), result.Missing);
        Assert.Equal(40, result.X.Length);
        Assert.All(result.X.Concat(result.Y), v => Assert.True(float.IsFinite(v)));
        Assert.Equal(5, result.Perplexity);
        Assert.True(result.Kl > 0 && result.Kl < result.KlHistory[0][1], $"KL {result.Kl}");

        // Confusions of every class: share of its images predicted as the other class, and its mean probability.
        for (int k = 0; k < result.Classes.Length; k++)
        {
            int r = result.Classes[k];
            var rows = Enumerable.Range(0, labels.Length).Where(i => labels[i] == r).ToList();
            foreach (var c in result.Confusions[k].Take(5))
            {
                Assert.NotEqual(r, c.Index);
                Assert.Equal(rows.Count(i => ArgMax(p, i, n) == c.Index) / (double)rows.Count, c.Share, 12);
                Assert.Equal(rows.Average(i => (double)p[i * n + c.Index]), c.MeanConfidence, 5);
            }
            // Nothing outside the list beats its last entry.
            var last = result.Confusions[k][^1];
            for (int j = 0; j < n; j++)
            {
                if (j == r || result.Confusions[k].Any(c => c.Index == j)) continue;
                double share = rows.Count(i => ArgMax(p, i, n) == j) / (double)rows.Count;
                Assert.True(share <= last.Share, $"class {r}: {j} has share {share} > {last.Share}");
            }
        }
    }

    [Fact]
    public void Accuracy_tables_and_agreement_of_real_runs_match_independent_counts()
    {
        var store = runs.Engine.Store;
        var tables = runs.Runs.Select(runs.Engine.Analytics.Accuracy).ToList();
        var top1 = new List<Dictionary<int, int>>();
        foreach (var (run, table) in runs.Runs.Zip(tables))
        {
            var (p, shape) = Npy.ReadFloats(store.ConfidencePath(run.RunId));
            var (labels, _) = Npy.ReadInts(store.LabelsPath(run.RunId));
            var (images, _) = Npy.ReadInts(store.ImageIndexPath(run.RunId));
            int n = shape[1];
            int correct = Enumerable.Range(0, labels.Length).Count(i => ArgMax(p, i, n) == labels[i]);
            Assert.Equal(correct / (double)labels.Length, table.Overall.Top1, 9);
            Assert.Equal(labels.Length, table.Overall.Images);
            foreach (var cls in labels.Distinct())
            {
                var rows = Enumerable.Range(0, labels.Length).Where(i => labels[i] == cls).ToList();
                Assert.Equal(rows.Count(i => ArgMax(p, i, n) == cls) / (double)rows.Count, table.ForClass(cls)!.Top1, 9);
            }
            var animals = Enumerable.Range(0, labels.Length).Where(i => runs.Engine.Classes.Classes[labels[i]].Root == "animal").ToList();
            Assert.Equal(animals.Count(i => ArgMax(p, i, n) == labels[i]) / (double)animals.Count, table.PerRoot["animal"].Top1, 9);
            Assert.True(table.PerClass.Zip(table.PerClass.Skip(1)).All(t => t.First.Top1 >= t.Second.Top1));
            top1.Add(Enumerable.Range(0, labels.Length).ToDictionary(i => images[i], i => ArgMax(p, i, n)));
        }

        var (share, common) = ModelAgreement.Compute(runs.Runs.Select(runs.Engine.Analytics.Top1).ToList());
        var both = top1[0].Keys.Intersect(top1[1].Keys).ToList();
        Assert.Equal(both.Count, common[0][1]);
        Assert.Equal(both.Count(i => top1[0][i] == top1[1][i]) / (double)both.Count, share[0][1], 12);

        // With one image per class every accuracy is 0 or 1: diverging classes are those the two models disagree on.
        var range = ClassComparison.Range(tables);
        foreach (var c in range.Where(c => c.Kind == "diverging"))
            Assert.Equal(Math.Abs(tables[0].ForClass(c.Index)!.Top1 - tables[1].ForClass(c.Index)!.Top1), c.Range);
        int disagreeing = tables[0].PerClass.Count(c => c.Top1 != tables[1].ForClass(c.Index)!.Top1);
        Assert.Equal(Math.Min(3, disagreeing), range.Count(c => c.Kind == "diverging" && c.Range == 1));
    }

    [Fact]
    public void A_rerun_with_the_same_inputs_does_nothing_and_other_settings_get_their_own_result()
    {
        var run = runs.Runs[1];
        var first = runs.Engine.Analytics.GetOrCompute(run);
        string file = runs.Engine.Analytics.PathFor(first.Key);
        var written = File.GetLastWriteTimeUtc(file);

        // A fresh service (another process, or after a restart) and the job find the stored result.
        var fresh = new AnalyticsService(runs.Engine.Store);
        var again = fresh.GetOrCompute(run);
        Assert.True(new AnalyticsJobs(fresh).ComputeForRun(run.RunId) == false);
        Assert.Equal(0, fresh.Computations);
        Assert.Equal(written, File.GetLastWriteTimeUtc(file));
        Assert.Equal(first.X, again.X);
        Assert.Equal(first.Kl, again.Kl);

        // Other settings: another key, computed once.
        var other = TsneOptions.Default with { Seed = 7, Iterations = 300 };
        Assert.NotEqual(AnalyticsService.KeyFor(run, TsneOptions.Default), AnalyticsService.KeyFor(run, other));
        Assert.Null(fresh.Cached(run, other));
        fresh.GetOrCompute(run, other);
        fresh.GetOrCompute(run, other);
        Assert.Equal(1, fresh.Computations);

        // A damaged file is recomputed, not served.
        File.WriteAllText(fresh.PathFor(AnalyticsService.KeyFor(run, other)), "{ not json");
        var third = new AnalyticsService(runs.Engine.Store);
        Assert.Null(third.Cached(run, other));
        third.GetOrCompute(run, other);
        Assert.Equal(1, third.Computations);
    }

    [Fact]
    public void Finishing_an_evaluation_through_the_jobs_chains_the_analytics_job()
    {
        using var data = new TempDir();
        using var images = EvaluationTests.SampleSubset(12, skip: 100);
        using var engine = EvaluationTests.CreateEngine(data.Path, shardSize: 5);
        var storage = new InMemoryStorage();
        var client = new BackgroundJobClient(storage);
        var evaluationJobs = new EvaluationJobs(engine.Evaluation, client, new ImageSetProvider(images.Path, engine.Classes));
        var analyticsJobs = new AnalyticsJobs(engine.Analytics);
        using var server = new BackgroundJobServer(new BackgroundJobServerOptions
        {
            WorkerCount = 1, Activator = new InstanceActivator(evaluationJobs, analyticsJobs), SchedulePollingInterval = TimeSpan.FromMilliseconds(200),
        }, storage);
        string runId = evaluationJobs.EvaluateModel(SmallRunsFixture.ModelIds[0]);

        var deadline = DateTime.UtcNow.AddSeconds(120);
        ClassAnalytics? result = null;
        while (DateTime.UtcNow < deadline)
        {
            var run = engine.Store.GetRun(runId)!;
            if (run.State == RunStates.Done && (result = engine.Analytics.Cached(run)) != null) break;
            Thread.Sleep(200);
        }
        Assert.NotNull(result);
        Assert.Equal(12, result.Classes.Length);
        Assert.Equal(1, engine.Analytics.Computations);

        // Asking again (e.g. a second evaluation request of the same model) queues the job again; it does nothing.
        evaluationJobs.EvaluateModel(SmallRunsFixture.ModelIds[0]);
        var monitor = storage.GetMonitoringApi();
        deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && (monitor.EnqueuedCount("default") > 0 || monitor.ProcessingCount() > 0)) Thread.Sleep(100);
        Thread.Sleep(300);
        Assert.Equal(1, engine.Analytics.Computations);
        Assert.Equal(0, monitor.FailedCount());
    }
}
