namespace VacCnn.Contracts;

/// <summary>A model copy with randomised top layers (see <see cref="IClassifier.RandomiseTopLayers"/>).</summary>
public sealed class RandomisedClassifier : IDisposable
{
    /// <summary>Filled in with the required init properties.</summary>
    public RandomisedClassifier() { }

    /// <summary>The randomised copy; it has the original's card, classes and layers.</summary>
    public required IClassifier Classifier { get; init; }

    /// <summary>The layers randomised, nearest the output first, as "OpType weight-name [dims]".</summary>
    public required IReadOnlyList<string> Layers { get; init; }

    /// <summary>Disposes the copy.</summary>
    public void Dispose() => Classifier.Dispose();
}
