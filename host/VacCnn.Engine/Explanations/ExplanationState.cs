namespace VacCnn.Engine.Explanations;

/// <summary>Where a scheduled explanation stands.</summary>
public enum ExplanationState
{
    /// <summary>Waiting for a worker.</summary>
    Queued,
    /// <summary>Being computed.</summary>
    Running,
    /// <summary>Finished; the result is in the store.</summary>
    Done,
    /// <summary>Failed; <see cref="ExplanationWork.Error"/> says why.</summary>
    Failed,
}
