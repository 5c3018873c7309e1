using VacCnn.Contracts;

namespace VacCnn.Engine.Explanations;

/// <summary>
/// Which queue an explanation waits in. Each lane has its own workers, so a cheap request never waits behind an
/// expensive one: at least one worker of every process with jobs serves only <see cref="Interactive"/>.
/// </summary>
public enum ExplanationLane
{
    /// <summary>Cheap methods (one forward and one backward pass): milliseconds, for a user waiting at the page.</summary>
    Interactive,
    /// <summary>Expensive methods asked for by a user (Score-CAM, Smooth Grad-CAM++, BBMP, …): seconds.</summary>
    Heavy,
    /// <summary>Batches scheduled by an administrator (precompute): after every user request.</summary>
    Precompute,
}

/// <summary>The lanes' queue names and the rule that picks a request's lane.</summary>
public static class ExplanationLanes
{
    /// <summary>Queue of <see cref="ExplanationLane.Interactive"/>.</summary>
    public const string InteractiveQueue = "explain-interactive";
    /// <summary>Queue of <see cref="ExplanationLane.Heavy"/>.</summary>
    public const string HeavyQueue = "explain-heavy";
    /// <summary>Queue of <see cref="ExplanationLane.Precompute"/> (after <see cref="HeavyQueue"/> in a worker's list and
    /// alphabetically, which is the order storages that sort queues fetch them in).</summary>
    public const string PrecomputeQueue = "explain-precompute";

    /// <summary>A cheap method measured slower than this on a model (a very large one) goes to the heavy lane.</summary>
    public const double CheapLimitMillis = 2000;

    /// <summary>The queue of a lane.</summary>
    public static string QueueOf(ExplanationLane lane) => lane switch
    {
        ExplanationLane.Interactive => InteractiveQueue,
        ExplanationLane.Heavy => HeavyQueue,
        _ => PrecomputeQueue,
    };

    /// <summary>
    /// Interactive when the explainer declares itself cheap and earlier runs of the same model, method and settings
    /// (<paramref name="expectedMillis"/>, null when none finished yet) stayed under <see cref="CheapLimitMillis"/>;
    /// heavy otherwise. Explainers built against contracts 2.0 declare nothing and are heavy.
    /// </summary>
    public static ExplanationLane For(IExplainer explainer, double? expectedMillis) =>
        explainer.Cost == ExplainerCost.Cheap && !(expectedMillis > CheapLimitMillis) ? ExplanationLane.Interactive : ExplanationLane.Heavy;
}
