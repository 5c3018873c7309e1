using Hangfire;
using VacCnn.Engine.Store;

namespace VacCnn.Engine.Jobs;

/// <summary>
/// Start-up recovery: queues the unfinished shards of every run left pending or running (by a crash or a kill), and
/// re-registers saved recurring schedules. The default Hangfire storage is in memory, so this is what makes the
/// precompute survive restarts; with a persistent storage it is harmless (shards are idempotent).
/// </summary>
public sealed class RunRecovery(ResultStore store, IBackgroundJobClient jobs, IRecurringJobManager recurring, Action<string>? log = null)
{
    /// <summary>Queues what is unfinished; returns the number of shards queued.</summary>
    public int Recover()
    {
        int queued = 0;
        foreach (var run in store.UnfinishedRuns())
        {
            var pending = store.GetShards(run.RunId).Where(s => s.State != RunStates.Done).ToList();
            foreach (var shard in pending)
                jobs.Enqueue<EvaluationJobs>(j => j.RunShard(run.RunId, shard.Index));
            if (pending.Count == 0) jobs.Enqueue<EvaluationJobs>(j => j.QueueRemaining(run.RunId));
            queued += pending.Count;
            log?.Invoke($"resuming run {run.RunId} ({run.ModelId}): {pending.Count} of {run.ShardCount} shards to do");
        }
        foreach (var s in store.ListSchedules()) Register(recurring, s);
        return queued;
    }

    /// <summary>Registers a schedule with Hangfire (job id = schedule id).</summary>
    public static void Register(IRecurringJobManager recurring, ScheduleInfo s)
    {
        if (s.ModelId == null)
            recurring.AddOrUpdate<EvaluationJobs>(s.Id, j => j.EvaluateAll(), s.Cron);
        else
        {
            string model = s.ModelId;
            recurring.AddOrUpdate<EvaluationJobs>(s.Id, j => j.EvaluateModel(model), s.Cron);
        }
    }
}
