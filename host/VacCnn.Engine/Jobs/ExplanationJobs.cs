using Hangfire;
using VacCnn.Engine.Explanations;

namespace VacCnn.Engine.Jobs;

/// <summary>
/// The Hangfire jobs of explanations. Any process with jobs runs them (the lane's queue decides which of its workers);
/// the finished map goes to the explanation store every host reads (<see cref="ExplanationCache"/> in the shared data
/// folder), so a map computed by one worker is found by every host. At least once, not exactly once: a job run twice
/// (a worker killed mid-way, its job taken over) finds the stored map or computes the same one again.
/// </summary>
public sealed class ExplanationJobs(ExplanationService service)
{
    /// <summary>
    /// Validates the request again against this worker's models and images, computes the map unless it is stored, and
    /// stores it. Not retried: a failing explanation fails the same way again, and the user sees the reason at once.
    /// </summary>
    [AutomaticRetry(Attempts = 0, OnAttemptsExceeded = AttemptsExceededAction.Fail)]
    [JobDisplayName("explain {0}")]
    public string Explain(ExplanationJobSpec spec, CancellationToken cancellationToken)
    {
        var target = service.Resolve(spec.ToQuery());
        var result = service.ComputeAndStore(target, cancellationToken);
        return $"{result.Millis} ms, computed by {result.ComputedBy}";
    }
}
