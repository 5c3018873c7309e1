namespace VacCnn.Contracts;

/// <summary>An image classifier. Implementations must be safe to call from several threads at once.</summary>
public interface IClassifier : IDisposable
{
    /// <summary>Static description of the model.</summary>
    ModelCard Card { get; }

    /// <summary>
    /// Class probabilities for a batch of preprocessed images.
    /// </summary>
    /// <param name="images">[N, 3, CropHeight, CropWidth], already preprocessed as <see cref="ModelCard.Preprocessing"/> says.</param>
    /// <returns>[N, ClassCount] probabilities (softmax applied when the model emits logits).</returns>
    FloatTensor PredictProbabilities(FloatTensor images);

    /// <summary>The gradient capability, or null when the model cannot provide gradients.</summary>
    IExplainableClassifier? Explainable { get; }

    /// <summary>
    /// How many weighted layers (convolutions, fully connected layers) <see cref="RandomiseTopLayers"/> can randomise;
    /// 0 when the model cannot make a randomised copy of itself. Added after the first release, so it has a default.
    /// </summary>
    int RandomisableLayers => 0;

    /// <summary>
    /// A copy of this model, in memory only, whose <paramref name="layers"/> weighted layers nearest the output have
    /// their weights randomly permuted (Adebayo et al.'s cascading model randomisation, from the top): the copy keeps
    /// each layer's weight distribution but not what was learned. The same seed gives the same copy, and the copy for
    /// k layers randomises the same top k − 1 layers as the copy for k − 1. This model is not changed; the caller
    /// disposes the copy. Added after the first release: models that cannot do it say so.
    /// </summary>
    /// <param name="layers">1 to <see cref="RandomisableLayers"/>.</param>
    /// <param name="seed">Seed of the permutations.</param>
    RandomisedClassifier RandomiseTopLayers(int layers, int seed) =>
        throw new NotSupportedException($"model {Card.Id} cannot randomise its own weights (IClassifier.RandomiseTopLayers)");
}
