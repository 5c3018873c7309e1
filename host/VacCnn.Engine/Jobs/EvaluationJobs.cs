using Hangfire;
using VacCnn.Engine.Analytics;
using VacCnn.Engine.Data;
using VacCnn.Engine.Evaluation;
using VacCnn.Engine.Store;

namespace VacCnn.Engine.Jobs;

/// <summary>
/// The Hangfire jobs of the precompute. Hangfire runs a job at least once, not exactly once, so each job is
/// idempotent (see <see cref="EvaluationService"/>). The run records in the <see cref="ResultStore"/> are the source
/// of truth; the Hangfire queue only says what to do next, and <see cref="RunRecovery"/> rebuilds it at start-up.
/// </summary>
public sealed class EvaluationJobs(EvaluationService evaluation, IBackgroundJobClient jobs, ImageSetProvider images)
{
    /// <summary>Plans the run of every loaded model over the configured image set and queues their shards, one job
    /// per shard for all models together (each image is decoded once per pass, not once per model).</summary>
    [AutomaticRetry(Attempts = 0)]
    public void EvaluateAll()
    {
        var failed = EvaluateModels(evaluation.Models.Classifiers.Select(m => m.Card.Id).ToList()).Where(p => p.Error != null).ToList();
        if (failed.Count > 0)
            throw new InvalidOperationException("not planned: " + string.Join(" | ", failed.Select(f => $"{f.ModelId}: {f.Error}")));
    }

    /// <summary>
    /// Plans the runs of <paramref name="modelIds"/> over the configured image set and queues their unfinished
    /// shards as shared passes. A model that cannot be planned is reported and does not stop the others.
    /// </summary>
    public IReadOnlyList<PlannedRun> EvaluateModels(IReadOnlyList<string> modelIds)
    {
        var set = images.Current();
        var planned = new List<PlannedRun>();
        foreach (string id in modelIds)
        {
            try { planned.Add(new PlannedRun(id, evaluation.PlanRun(id, set).RunId, null)); }
            catch (Exception e) when (e is InvalidOperationException or KeyNotFoundException or IOException or ArgumentException)
            {
                planned.Add(new PlannedRun(id, null, e.Message));
            }
        }
        QueueAndFinalize(planned.Where(p => p.RunId != null).Select(p => p.RunId!).ToList());
        return planned;
    }

    /// <summary>Plans the run of one model over the configured image set and queues its unfinished shards.</summary>
    [AutomaticRetry(Attempts = 0)]
    public string EvaluateModel(string modelId)
    {
        var run = evaluation.PlanRun(modelId, images.Current());
        QueueRemaining(run.RunId);
        return run.RunId;
    }

    /// <summary>One shard of one run (kept for jobs queued before shared passes existed).</summary>
    [AutomaticRetry(Attempts = 2, OnAttemptsExceeded = AttemptsExceededAction.Fail)]
    public void RunShard(string runId, int shard) => RunShards([runId], shard);

    /// <summary>
    /// Runs shard <paramref name="shard"/> of several runs in one pass over its images; the job that completes a
    /// run's last shard assembles its results and chains the class analytics (shards finish in any order, so the
    /// chain starts from whichever job finalises the run). Safe to run twice at once (in one process or on two
    /// machines): the store's shard lease lets one worker run each run's shard, and runs whose shard another live
    /// worker holds come back as a job of their own after that worker's lease, in case the worker dies. When a
    /// model fails, the others are committed and finalised before the job fails (a retry redoes only the failed one).
    /// </summary>
    [AutomaticRetry(Attempts = 2, OnAttemptsExceeded = AttemptsExceededAction.Fail)]
    public void RunShards(string[] runIds, int shard)
    {
        IReadOnlyList<ShardClaim> claims;
        try { claims = evaluation.RunShards(runIds, shard); }
        finally
        {
            foreach (string runId in runIds)
                if (evaluation.TryFinalize(runId)) AnalyticsJobs.Queue(jobs, runId);
        }
        var busy = runIds.Zip(claims).Where(x => x.Second.Result == ShardClaimResult.Busy).ToList();
        if (busy.Count == 0) return;
        var wait = (busy.Min(x => x.Second.BusyUntilUtc) ?? DateTime.UtcNow) - DateTime.UtcNow + TimeSpan.FromSeconds(1);
        string[] again = busy.Select(x => x.First).ToArray();
        jobs.Schedule<EvaluationJobs>(j => j.RunShards(again, shard), wait > TimeSpan.Zero ? wait : TimeSpan.FromSeconds(1));
    }

    /// <summary>Queues every shard of the run that is not done (or finalises a run whose shards are all done).</summary>
    public int QueueRemaining(string runId) => QueueAndFinalize([runId]);

    private int QueueAndFinalize(IReadOnlyList<string> runIds)
    {
        var (queued, complete) = QueueShards(evaluation.Store, jobs, runIds);
        foreach (string id in complete)
            if (evaluation.TryFinalize(id)) AnalyticsJobs.Queue(jobs, id);
        return queued;
    }

    /// <summary>
    /// Queues the unfinished shards of <paramref name="runIds"/>: runs that share an image set and shard layout get
    /// one job per shard index for all of them. Returns the number of run shards queued and the runs with no shard
    /// left to do (to be finalised).
    /// </summary>
    public static (int Queued, IReadOnlyList<string> Complete) QueueShards(ResultStore store, IBackgroundJobClient jobs, IReadOnlyList<string> runIds)
    {
        var plan = store.PlanSharedPasses(runIds);
        foreach (var (shard, todo) in plan.Passes)
            jobs.Enqueue<EvaluationJobs>(j => j.RunShards(todo, shard));
        return (plan.Passes.Sum(p => p.RunIds.Length), plan.Complete);
    }
}

/// <summary>What planning a model's run gave: its run id, or why it could not be planned.</summary>
public sealed record PlannedRun(string ModelId, string? RunId, string? Error);

/// <summary>The configured image set, reopened when its folder changes (fingerprint by file list and times).</summary>
public sealed class ImageSetProvider(string root, ImageNetClasses classes)
{
    /// <summary>The image set as it is now on disk.</summary>
    public ImageSet Current()
    {
        if (string.IsNullOrWhiteSpace(root)) throw new InvalidOperationException("no image set configured (VacCnn:Images)");
        return ImageSet.Open(root, classes);
    }
}
