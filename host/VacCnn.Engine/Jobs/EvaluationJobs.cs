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
    /// <summary>Plans the run of every loaded model over the configured image set and queues their shards.</summary>
    [AutomaticRetry(Attempts = 0)]
    public void EvaluateAll()
    {
        foreach (var model in evaluation.Models.Classifiers) EvaluateModel(model.Card.Id);
    }

    /// <summary>Plans the run of one model over the configured image set and queues its unfinished shards.</summary>
    [AutomaticRetry(Attempts = 0)]
    public string EvaluateModel(string modelId)
    {
        var run = evaluation.PlanRun(modelId, images.Current());
        QueueRemaining(run.RunId);
        return run.RunId;
    }

    /// <summary>
    /// Runs one shard; the job that completes the last shard assembles the run's results and chains the class
    /// analytics (shards finish in any order, so the chain starts from whichever job finalises the run). Safe to run
    /// twice at once (in one process or on two machines): the store's shard lease lets one run it, and when another
    /// live worker holds the shard this job comes back after that worker's lease, in case the worker dies.
    /// </summary>
    [AutomaticRetry(Attempts = 2, OnAttemptsExceeded = AttemptsExceededAction.Fail)]
    public void RunShard(string runId, int shard)
    {
        var claim = evaluation.RunShard(runId, shard);
        if (claim.Result == ShardClaimResult.Busy)
        {
            var wait = (claim.BusyUntilUtc ?? DateTime.UtcNow) - DateTime.UtcNow + TimeSpan.FromSeconds(1);
            jobs.Schedule<EvaluationJobs>(j => j.RunShard(runId, shard), wait > TimeSpan.Zero ? wait : TimeSpan.FromSeconds(1));
            return;
        }
        if (evaluation.TryFinalize(runId)) AnalyticsJobs.Queue(jobs, runId);
    }

    /// <summary>Queues every shard of the run that is not done (or finalises a run whose shards are all done).</summary>
    public int QueueRemaining(string runId)
    {
        var pending = evaluation.Store.GetShards(runId).Where(s => s.State != RunStates.Done).ToList();
        foreach (var shard in pending)
            jobs.Enqueue<EvaluationJobs>(j => j.RunShard(runId, shard.Index));
        if (pending.Count == 0 && evaluation.TryFinalize(runId)) AnalyticsJobs.Queue(jobs, runId);
        return pending.Count;
    }
}

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
