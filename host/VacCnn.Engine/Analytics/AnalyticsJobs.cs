using Hangfire;
using VacCnn.Engine.Store;

namespace VacCnn.Engine.Analytics;

/// <summary>
/// The Hangfire job that precomputes a run's class analytics. It is chained after the evaluation: the shard job
/// that finalises a run (see <see cref="Jobs.EvaluationJobs"/>) queues it, and the API queues it when a result is asked
/// for before it exists. Running it again with the same inputs only finds the stored result (at-least-once safe).
/// </summary>
public sealed class AnalyticsJobs(AnalyticsService analytics)
{
    /// <summary>Queues the analytics of a run (from any process that shares the job storage).</summary>
    public static string Queue(IBackgroundJobClient jobs, string runId) =>
        jobs.Enqueue<AnalyticsJobs>(j => j.ComputeForRun(runId));

    /// <summary>Queues the analytics of a run with other t-SNE settings (a user changed the perplexity, say).</summary>
    public static string Queue(IBackgroundJobClient jobs, string runId, TsneOptions options) =>
        options == TsneOptions.Default ? Queue(jobs, runId) : jobs.Enqueue<AnalyticsJobs>(j => j.ComputeForRunWith(runId, options));

    /// <summary>Computes (or finds) the default analytics of a finished run; a run that is not finished is left alone.</summary>
    [AutomaticRetry(Attempts = 1, OnAttemptsExceeded = AttemptsExceededAction.Fail)]
    public bool ComputeForRun(string runId) => ComputeForRunWith(runId, TsneOptions.Default);

    /// <summary>As <see cref="ComputeForRun"/> with the given settings (cached under their own key).</summary>
    [AutomaticRetry(Attempts = 1, OnAttemptsExceeded = AttemptsExceededAction.Fail)]
    public bool ComputeForRunWith(string runId, TsneOptions options)
    {
        var run = analytics.Store.GetRun(runId);
        if (run == null || run.State != RunStates.Done) return false;
        int before = analytics.Computations;
        analytics.GetOrCompute(run, options);
        return analytics.Computations != before;
    }
}
