namespace VacCnn.Contracts;

/// <summary>
/// How long an explanation takes, roughly, so the host can keep cheap requests out of the queue behind expensive ones.
/// Added in contracts 2.1; explainers built against 2.0 are <see cref="Expensive"/>.
/// </summary>
public enum ExplainerCost
{
    /// <summary>Many forward or backward passes (Score-CAM, BBMP, SmoothGrad): seconds. The safe default.</summary>
    Expensive = 0,

    /// <summary>About one forward and one backward pass (Grad-CAM, input gradients): milliseconds to a second.</summary>
    Cheap = 1,
}
