using VacCnn.Contracts;

namespace VacCnn.TestSupport;

/// <summary>A loaded classifier lent to a second, short-lived registry that must not dispose it.</summary>
public sealed class BorrowedClassifier(IClassifier inner) : IClassifier
{
    /// <inheritdoc />
    public ModelCard Card => inner.Card;

    /// <inheritdoc />
    public IExplainableClassifier? Explainable => inner.Explainable;

    /// <inheritdoc />
    public FloatTensor PredictProbabilities(FloatTensor images) => inner.PredictProbabilities(images);

    /// <summary>Does nothing: the owner disposes the classifier.</summary>
    public void Dispose() { }
}
