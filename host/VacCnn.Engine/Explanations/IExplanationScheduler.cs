namespace VacCnn.Engine.Explanations;

/// <summary>
/// Hands explanations to background workers (any process with jobs; see <c>Jobs.HangfireExplanationScheduler</c>)
/// and says where they stand. Identical work (same key) is scheduled once however often it is asked for, and no more
/// than <see cref="Capacity"/> pieces wait in one lane at once.
/// </summary>
public interface IExplanationScheduler
{
    /// <summary>Pieces that may wait in each lane (running ones not counted); beyond it <see cref="Submit"/> refuses.</summary>
    int Capacity { get; }

    /// <summary>Pieces submitted here that are waiting now, in all lanes.</summary>
    int Waiting { get; }

    /// <summary>
    /// Schedules <paramref name="target"/> in <paramref name="lane"/> unless identical work is pending or failed a short
    /// while ago (then that is described); null when <see cref="Capacity"/> pieces are waiting in the lane.
    /// </summary>
    ExplanationWork? Submit(ExplanationTarget target, ExplanationLane lane, string estimateKey);

    /// <summary>The pending or recently failed work for a key, or null.</summary>
    ExplanationWork? Find(string key);

    /// <summary>The work for <paramref name="key"/> is over and its result was found: forget it, and learn its duration
    /// for later estimates.</summary>
    void Finished(string key, string estimateKey, double millis);

    /// <summary>The mean duration of earlier work of this kind, or null when none finished yet.</summary>
    double? ExpectedMillis(string estimateKey);

    /// <summary>When a refused request is worth trying again, in milliseconds.</summary>
    int RetryAfterFullMs();
}
