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
}

/// <summary>A candidate target layer: a named 4-D feature map [N, C, H, W].</summary>
/// <param name="Name">Tensor name inside the model.</param>
/// <param name="Channels">C.</param>
/// <param name="Height">H for one input image.</param>
/// <param name="Width">W for one input image.</param>
public sealed record LayerInfo(string Name, int Channels, int Height, int Width);

/// <summary>What one backward pass returns.</summary>
/// <param name="Scores">[N, ClassCount] raw model outputs (logits when the model emits logits).</param>
/// <param name="Activations">[N, C, H, W] activations at the layer.</param>
/// <param name="LayerGradient">[N, C, H, W] gradient of Σ seed·scores with respect to the activations.</param>
/// <param name="InputGradient">[N, 3, H, W] gradient with respect to the input, when asked for.</param>
public sealed record GradientResult(FloatTensor Scores, FloatTensor Activations, FloatTensor LayerGradient, FloatTensor? InputGradient);

/// <summary>
/// Activations and gradients inside a model: everything gradient-based explainers need, without exposing how
/// the model is executed.
/// </summary>
public interface IExplainableClassifier
{
    /// <summary>4-D feature maps that can be explained, input side first.</summary>
    IReadOnlyList<LayerInfo> CandidateLayers { get; }

    /// <summary>The layer used when a request names none.</summary>
    string DefaultLayer { get; }

    /// <summary>Raw scores and activations at <paramref name="layer"/> (no gradient), for perturbation methods.</summary>
    (FloatTensor Scores, FloatTensor Activations) Forward(FloatTensor images, string layer);

    /// <summary>
    /// Runs forward and backward: the scalar differentiated is Σ over batch and classes of
    /// <paramref name="outputSeed"/> × raw scores (e.g. a one-hot seed explains one class).
    /// </summary>
    /// <param name="images">[N, 3, H, W] preprocessed images.</param>
    /// <param name="outputSeed">[N, ClassCount] seed gradient of the raw scores.</param>
    /// <param name="layer">Target layer name (one of <see cref="CandidateLayers"/>).</param>
    /// <param name="withInputGradient">Also return the gradient at the input image.</param>
    GradientResult Backward(FloatTensor images, FloatTensor outputSeed, string layer, bool withInputGradient);
}
