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

/// <summary>A candidate target layer: a named 4-D feature map [N, C, H, W].</summary>
public sealed record LayerInfo
{
    /// <summary>A layer.</summary>
    /// <param name="name">Tensor name inside the model.</param>
    /// <param name="channels">C.</param>
    /// <param name="height">H for one input image.</param>
    /// <param name="width">W for one input image.</param>
    public LayerInfo(string name, int channels, int height, int width)
    {
        Name = name;
        Channels = channels;
        Height = height;
        Width = width;
    }

    /// <summary>Tensor name inside the model.</summary>
    public string Name { get; init; }

    /// <summary>C.</summary>
    public int Channels { get; init; }

    /// <summary>H for one input image.</summary>
    public int Height { get; init; }

    /// <summary>W for one input image.</summary>
    public int Width { get; init; }
}

/// <summary>What one backward pass returns.</summary>
public sealed record GradientResult
{
    /// <summary>The tensors of one pass.</summary>
    /// <param name="scores">[N, ClassCount] raw model outputs (logits when the model emits logits).</param>
    /// <param name="activations">[N, C, H, W] activations at the layer.</param>
    /// <param name="layerGradient">[N, C, H, W] gradient of Σ seed·scores with respect to the activations.</param>
    /// <param name="inputGradient">[N, 3, H, W] gradient with respect to the input, when asked for.</param>
    /// <param name="classes">Per image, the class that was differentiated, when a <see cref="GradientTarget"/> chose it.</param>
    public GradientResult(FloatTensor scores, FloatTensor activations, FloatTensor layerGradient, FloatTensor? inputGradient,
        int[]? classes = null)
    {
        Scores = scores;
        Activations = activations;
        LayerGradient = layerGradient;
        InputGradient = inputGradient;
        Classes = classes;
    }

    /// <summary>[N, ClassCount] raw model outputs (logits when the model emits logits).</summary>
    public FloatTensor Scores { get; init; }

    /// <summary>[N, C, H, W] activations at the layer.</summary>
    public FloatTensor Activations { get; init; }

    /// <summary>[N, C, H, W] gradient of Σ seed·scores with respect to the activations.</summary>
    public FloatTensor LayerGradient { get; init; }

    /// <summary>[N, 3, H, W] gradient with respect to the input, when asked for.</summary>
    public FloatTensor? InputGradient { get; init; }

    /// <summary>Per image, the class that was differentiated, when a <see cref="GradientTarget"/> chose it.</summary>
    public int[]? Classes { get; init; }
}

/// <summary>What a targeted backward pass differentiates for the chosen class c of each image.</summary>
public enum GradientObjective
{
    /// <summary>The raw score s_c (the logit, for models that emit logits).</summary>
    Score,

    /// <summary>softmax(s)_c: the class probability of a model that emits logits (seed p_c·(onehot_c − p)).</summary>
    SoftmaxOfScores,
}

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
