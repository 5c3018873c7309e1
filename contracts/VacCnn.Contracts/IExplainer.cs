namespace VacCnn.Contracts;

/// <summary>A numeric setting of an explainer or metric, documented for novices.</summary>
public sealed record SettingInfo
{
    /// <summary>A setting with its default and bounds.</summary>
    /// <param name="name">Key used in requests.</param>
    /// <param name="description">One sentence on what it changes.</param>
    /// <param name="default">Default value.</param>
    /// <param name="min">Smallest allowed value.</param>
    /// <param name="max">Largest allowed value.</param>
    public SettingInfo(string name, string description, double @default, double min, double max)
    {
        Name = name;
        Description = description;
        Default = @default;
        Min = min;
        Max = max;
    }

    /// <summary>Key used in requests.</summary>
    public string Name { get; init; }

    /// <summary>One sentence on what it changes.</summary>
    public string Description { get; init; }

    /// <summary>Default value.</summary>
    public double Default { get; init; }

    /// <summary>Smallest allowed value.</summary>
    public double Min { get; init; }

    /// <summary>Largest allowed value.</summary>
    public double Max { get; init; }
}

/// <summary>What to explain.</summary>
public sealed record ExplanationRequest
{
    /// <summary>A request.</summary>
    /// <param name="classIndex">Class to explain; null = the predicted class.</param>
    /// <param name="layer">Target layer; null = the model's default.</param>
    /// <param name="seed">Random seed: the same seed gives the same map.</param>
    /// <param name="settings">Values for the explainer's <see cref="IExplainer.Settings"/>; missing ones take defaults.</param>
    public ExplanationRequest(int? classIndex, string? layer, int seed, IReadOnlyDictionary<string, double> settings)
    {
        ClassIndex = classIndex;
        Layer = layer;
        Seed = seed;
        Settings = settings;
    }

    /// <summary>Class to explain; null = the predicted class.</summary>
    public int? ClassIndex { get; init; }

    /// <summary>Target layer; null = the model's default.</summary>
    public string? Layer { get; init; }

    /// <summary>Random seed: the same seed gives the same map.</summary>
    public int Seed { get; init; }

    /// <summary>Values for the explainer's <see cref="IExplainer.Settings"/>; missing ones take defaults.</summary>
    public IReadOnlyDictionary<string, double> Settings { get; init; }
}

/// <summary>A saliency map in [0, 1], row-major, <see cref="Height"/> × <see cref="Width"/>.</summary>
public sealed record SaliencyMap
{
    /// <summary>A map over <paramref name="values"/> (not copied).</summary>
    /// <param name="width">Columns.</param>
    /// <param name="height">Rows.</param>
    /// <param name="values">Saliency per pixel in [0, 1], row-major.</param>
    /// <param name="classIndex">Class explained.</param>
    /// <param name="probability">The model's probability for that class.</param>
    /// <param name="layer">Layer used, if any.</param>
    public SaliencyMap(int width, int height, float[] values, int classIndex, float probability, string? layer)
    {
        Width = width;
        Height = height;
        Values = values;
        ClassIndex = classIndex;
        Probability = probability;
        Layer = layer;
    }

    /// <summary>Columns.</summary>
    public int Width { get; init; }

    /// <summary>Rows.</summary>
    public int Height { get; init; }

    /// <summary>Saliency per pixel in [0, 1], row-major.</summary>
    public float[] Values { get; init; }

    /// <summary>Class explained.</summary>
    public int ClassIndex { get; init; }

    /// <summary>The model's probability for that class.</summary>
    public float Probability { get; init; }

    /// <summary>Layer used, if any.</summary>
    public string? Layer { get; init; }
}

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
