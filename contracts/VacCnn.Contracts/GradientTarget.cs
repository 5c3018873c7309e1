namespace VacCnn.Contracts;

/// <summary>
/// A backward pass whose seed depends on the pass's own output: per image a class (or <see cref="Predicted"/>, the
/// image's top-1 class, the first maximum of its scores) and what to differentiate for it. A description only: the
/// model implements it (<see cref="IExplainableClassifier.Backward(FloatTensor, GradientTarget, string, bool)"/>), and
/// the host's reference semantics are VacCnn.Engine's <c>GradientTargets</c>.
/// </summary>
public sealed record GradientTarget
{
    /// <summary>Stands for the image's own top-1 class.</summary>
    public const int Predicted = -1;

    /// <summary>A target.</summary>
    /// <param name="classes">Per image, a class index or <see cref="Predicted"/>.</param>
    /// <param name="objective">What is differentiated for that class.</param>
    public GradientTarget(int[] classes, GradientObjective objective)
    {
        Classes = classes;
        Objective = objective;
    }

    /// <summary>Per image, a class index or <see cref="Predicted"/>.</summary>
    public int[] Classes { get; init; }

    /// <summary>What is differentiated for that class.</summary>
    public GradientObjective Objective { get; init; }

    /// <summary>The same class (or the predicted one when null) for each of <paramref name="images"/> images.</summary>
    public static GradientTarget ForAll(int images, int? classIndex, GradientObjective objective) =>
        new(Enumerable.Repeat(classIndex ?? Predicted, images).ToArray(), objective);
}
