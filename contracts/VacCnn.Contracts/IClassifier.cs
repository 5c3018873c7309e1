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
    /// <summary>The randomised copy; it has the original's card, classes and layers.</summary>
    public required IClassifier Classifier { get; init; }

    /// <summary>The layers randomised, nearest the output first, as "OpType weight-name [dims]".</summary>
    public required IReadOnlyList<string> Layers { get; init; }

    /// <summary>Disposes the copy.</summary>
    public void Dispose() => Classifier.Dispose();
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
/// <param name="Classes">Per image, the class that was differentiated, when a <see cref="GradientTarget"/> chose it.</param>
public sealed record GradientResult(FloatTensor Scores, FloatTensor Activations, FloatTensor LayerGradient, FloatTensor? InputGradient,
    int[]? Classes = null);

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
/// image's top-1 class, the first maximum of its scores) and what to differentiate for it. An implementation can find
/// the class and build the seed inside one run, where a plain seed needs a forward pass first.
/// </summary>
/// <param name="Classes">Per image, a class index or <see cref="Predicted"/>.</param>
/// <param name="Objective">What is differentiated for that class.</param>
public sealed record GradientTarget(int[] Classes, GradientObjective Objective)
{
    /// <summary>Stands for the image's own top-1 class.</summary>
    public const int Predicted = -1;

    /// <summary>The same class (or the predicted one when null) for each of <paramref name="images"/> images.</summary>
    public static GradientTarget ForAll(int images, int? classIndex, GradientObjective objective) =>
        new(Enumerable.Repeat(classIndex ?? Predicted, images).ToArray(), objective);

    /// <summary>The class each image resolves to, given its raw scores ([N, classes]).</summary>
    public int[] Resolve(FloatTensor scores)
    {
        int n = scores.Shape[0], classes = (int)(scores.Length / n);
        if (Classes.Length != n) throw new ArgumentException($"target has {Classes.Length} classes for {n} images", nameof(scores));
        var resolved = new int[n];
        for (int i = 0; i < n; i++)
        {
            int c = Classes[i];
            if (c == Predicted)
            {
                var s = scores.Item(i);
                c = 0;
                for (int j = 1; j < classes; j++) if (s[j] > s[c]) c = j;
            }
            else if (c < 0 || c >= classes) throw new ArgumentOutOfRangeException(nameof(scores), c, $"class {c} is outside 0..{classes - 1}");
            resolved[i] = c;
        }
        return resolved;
    }

    /// <summary>The seed gradient ([N, classes]) of the raw scores for the resolved <paramref name="classes"/>.</summary>
    public FloatTensor Seed(FloatTensor scores, int[] classes)
    {
        int n = scores.Shape[0], width = (int)(scores.Length / n);
        var seed = FloatTensor.Zeros(n, width);
        for (int i = 0; i < n; i++)
        {
            var row = seed.Item(i);
            int c = classes[i];
            if (Objective == GradientObjective.Score) { row[c] = 1; continue; }
            // d softmax_c / d s_j = p_c (δ_cj − p_j), with the maximum subtracted before exp.
            var s = scores.Item(i);
            float max = float.NegativeInfinity;
            foreach (float v in s) max = Math.Max(max, v);
            double sum = 0;
            for (int j = 0; j < width; j++) sum += Math.Exp(s[j] - max);
            double pc = Math.Exp(s[c] - max) / sum;
            for (int j = 0; j < width; j++) row[j] = (float)(pc * ((j == c ? 1 : 0) - Math.Exp(s[j] - max) / sum));
        }
        return seed;
    }
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
    /// are taken from the scores of the same images. Implementations should do this in one run; this default runs
    /// <see cref="Forward"/> first, then the seeded <see cref="Backward(FloatTensor, FloatTensor, string, bool)"/>.
    /// </summary>
    GradientResult Backward(FloatTensor images, GradientTarget target, string layer, bool withInputGradient)
    {
        ArgumentNullException.ThrowIfNull(target);
        var (scores, _) = Forward(images, layer);
        var classes = target.Resolve(scores);
        return Backward(images, target.Seed(scores, classes), layer, withInputGradient) with { Classes = classes };
    }

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
