namespace VacCnn.Contracts;

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

    /// <summary>
    /// A backward pass for <paramref name="target"/>: the class of each image (its own top-1 when asked) and the seed
    /// are taken from the scores of the same images, and <see cref="GradientResult.Classes"/> says which classes were
    /// differentiated. Implementations should do this in one run; one that cannot may run <see cref="Forward"/> first,
    /// then the seeded <see cref="Backward(FloatTensor, FloatTensor, string, bool)"/>.
    /// </summary>
    GradientResult Backward(FloatTensor images, GradientTarget target, string layer, bool withInputGradient);

    /// <summary>
    /// Raw scores [N, ClassCount] of ONE image when the activations at <paramref name="layer"/> are multiplied, channel
    /// by channel, by each row of <paramref name="channelScales"/> ([N, C]) and the network goes on from there: a row
    /// of ones is the plain forward pass, a 0 in it ablates that channel (Ablation-CAM). Added after the first
    /// release, so it has a default: models that cannot intervene inside the network say so.
    /// </summary>
    /// <param name="image">[1, 3, H, W] preprocessed image.</param>
    /// <param name="layer">Target layer name (one of <see cref="CandidateLayers"/>).</param>
    /// <param name="channelScales">[N, C]: one row of per-channel factors per output row.</param>
    FloatTensor ScoresWithChannelsScaled(FloatTensor image, string layer, FloatTensor channelScales) =>
        throw new NotSupportedException("this model cannot scale the channels of a layer (IExplainableClassifier.ScoresWithChannelsScaled)");
}
