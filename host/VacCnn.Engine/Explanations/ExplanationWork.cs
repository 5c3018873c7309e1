namespace VacCnn.Engine.Explanations;

/// <summary>What a scheduler knows about one piece of explanation work.</summary>
/// <param name="State">Queued, running, done or failed.</param>
/// <param name="Lane">The lane it waits or runs in.</param>
/// <param name="Progress">Estimated fraction done (0..0.95 while running).</param>
/// <param name="RetryAfterMs">When it is worth asking again.</param>
/// <param name="Error">Why it failed, when it did.</param>
/// <param name="JobId">The background job that computes it.</param>
public sealed record ExplanationWork(ExplanationState State, ExplanationLane Lane, double Progress, int RetryAfterMs, string? Error, string JobId);
