namespace VacCnn.Contracts;

/// <summary>A numeric setting of an explainer or metric, documented for novices.</summary>
/// <param name="Name">Key used in requests.</param>
/// <param name="Description">One sentence on what it changes.</param>
/// <param name="Default">Default value.</param>
/// <param name="Min">Smallest allowed value.</param>
/// <param name="Max">Largest allowed value.</param>
public sealed record SettingInfo(string Name, string Description, double Default, double Min, double Max);

/// <summary>What to explain.</summary>
/// <param name="ClassIndex">Class to explain; null = the predicted class.</param>
/// <param name="Layer">Target layer; null = the model's default.</param>
/// <param name="Seed">Random seed: the same seed gives the same map.</param>
/// <param name="Settings">Values for the explainer's <see cref="IExplainer.Settings"/>; missing ones take defaults.</param>
public sealed record ExplanationRequest(int? ClassIndex, string? Layer, int Seed, IReadOnlyDictionary<string, double> Settings);

/// <summary>A saliency map in [0, 1], row-major, <see cref="Height"/> × <see cref="Width"/>.</summary>
/// <param name="Width">Columns.</param>
/// <param name="Height">Rows.</param>
/// <param name="Values">Saliency per pixel in [0, 1].</param>
/// <param name="ClassIndex">Class explained.</param>
/// <param name="Probability">The model's probability for that class.</param>
/// <param name="Layer">Layer used, if any.</param>
public sealed record SaliencyMap(int Width, int Height, float[] Values, int ClassIndex, float Probability, string? Layer);

/// <summary>
/// A visual explanation method. It sees the model only through <see cref="IClassifier"/> and
/// <see cref="IExplainableClassifier"/>; it gets the preprocessed crop and returns a map at crop resolution
/// (the host places it back onto the original image).
/// </summary>
public interface IExplainer
{
    /// <summary>Stable id used in URLs and the CLI, e.g. "gradcam".</summary>
    string Id { get; }

    /// <summary>Name shown to users.</summary>
    string DisplayName { get; }

    /// <summary>One sentence for novices: what the map shows and what it costs.</summary>
    string Description { get; }

    /// <summary>Tunable settings with defaults and bounds.</summary>
    IReadOnlyList<SettingInfo> Settings { get; }

    /// <summary>Explains one preprocessed image [1, 3, H, W].</summary>
    SaliencyMap Explain(IClassifier model, FloatTensor image, ExplanationRequest request, CancellationToken cancellationToken);
}

/// <summary>A similarity between two saliency maps of the same size, in [0, 1] where 1 means identical.</summary>
public interface ISimilarityMetric
{
    /// <summary>Stable id, e.g. "ssim".</summary>
    string Id { get; }

    /// <summary>Name shown to users.</summary>
    string DisplayName { get; }

    /// <summary>One sentence on what it measures and how it maps to [0, 1].</summary>
    string Description { get; }

    /// <summary>Similarity of <paramref name="a"/> and <paramref name="b"/> (same width and height).</summary>
    double Similarity(SaliencyMap a, SaliencyMap b);
}
