using Hangfire;
using VacCnn.Engine.Store;

namespace VacCnn.Engine.Jobs;

/// <summary>
/// Start-up recovery: queues the unfinished shards of every run left pending or running (by a crash or a kill), plans
/// again every precompute batch of explanations left running, and re-registers saved recurring schedules. The default Hangfire storage is in memory, so this is what makes the
/// precompute survive restarts; with a persistent storage it is harmless (shards are idempotent).
/// </summary>
public sealed class RunRecovery(ResultStore store, IBackgroundJobClient jobs, IRecurringJobManager recurring, Action<string>? log = null)
{
    /// <summary>Queues what is unfinished, runs over the same images together (one pass per shard for all of
    /// them); returns the number of run shards queued.</summary>
    public int Recover()
    {
        var runs = store.UnfinishedRuns();
        foreach (var run in runs)
        {
            int left = store.GetShards(run.RunId).Count(s => s.State != RunStates.Done);
            log?.Invoke($"resuming run {run.RunId} ({run.ModelId}): {left} of {run.ShardCount} shards to do");
        }
        var (queued, complete) = EvaluationJobs.QueueShards(store, jobs, runs.Select(r => r.RunId).ToList());
        foreach (string id in complete) jobs.Enqueue<EvaluationJobs>(j => j.QueueRemaining(id));
        foreach (var s in store.ListSchedules()) Register(recurring, s);
        foreach (var batch in store.UnfinishedBatches())
        {
            log?.Invoke($"resuming precompute batch {batch.Id}: {batch.Done + batch.Failed} of {batch.Total} explanations finished");
            string id = batch.Id;
            jobs.Create(Hangfire.Common.Job.FromExpression<ExplanationPrecompute>(p => p.Plan(id)),
                new Hangfire.States.EnqueuedState(Explanations.ExplanationLanes.PrecomputeQueue));
        }
        return queued;
    }

    /// <summary>Registers a schedule with Hangfire (job id = schedule id).</summary>
    public static void Register(IRecurringJobManager recurring, ScheduleInfo s)
    {
        if (s.Precompute is { } spec)
            recurring.AddOrUpdate<ExplanationPrecompute>(s.Id, p => p.StartScheduled(spec), s.Cron);
        else if (s.ModelId == null)
            recurring.AddOrUpdate<EvaluationJobs>(s.Id, j => j.EvaluateAll(), s.Cron);
        else
        {
            string model = s.ModelId;
            recurring.AddOrUpdate<EvaluationJobs>(s.Id, j => j.EvaluateModel(model), s.Cron);
        }
    }
}
