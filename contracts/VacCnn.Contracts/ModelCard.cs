namespace VacCnn.Contracts;

/// <summary>Everything the host shows about a classifier without running it.</summary>
public sealed record ModelCard
{
    /// <summary>A model's card.</summary>
    /// <param name="id">Stable identifier (folder name for folder-based models).</param>
    /// <param name="displayName">Human-readable name.</param>
    /// <param name="family">Architecture family, e.g. "ResNet".</param>
    /// <param name="parameters">Number of learned parameters (weights and biases).</param>
    /// <param name="multiplyAccumulates">Multiply-accumulate operations for one image (FLOPs ≈ 2 × MACs).</param>
    /// <param name="classCount">Number of output classes.</param>
    /// <param name="labelSet">Name of the label set the outputs index into, e.g. "imagenet-1k".</param>
    /// <param name="preprocessing">How to turn an image into the input tensor.</param>
    /// <param name="outputKind">Whether raw outputs are logits or probabilities.</param>
    /// <param name="defaultTargetLayer">Layer explained by default (a 4-D feature map), if known.</param>
    /// <param name="source">Where the weights come from.</param>
    /// <param name="licence">Licence of the weights.</param>
    /// <param name="warnings">Assumptions made while loading (e.g. no manifest); shown to users.</param>
    public ModelCard(string id, string displayName, string family, long parameters, long multiplyAccumulates, int classCount,
        string labelSet, PreprocessingSpec preprocessing, OutputKind outputKind, string? defaultTargetLayer, string? source,
        string? licence, IReadOnlyList<string> warnings)
    {
        Id = id;
        DisplayName = displayName;
        Family = family;
        Parameters = parameters;
        MultiplyAccumulates = multiplyAccumulates;
        ClassCount = classCount;
        LabelSet = labelSet;
        Preprocessing = preprocessing;
        OutputKind = outputKind;
        DefaultTargetLayer = defaultTargetLayer;
        Source = source;
        Licence = licence;
        Warnings = warnings;
    }

    /// <summary>Stable identifier (folder name for folder-based models).</summary>
    public string Id { get; init; }

    /// <summary>Human-readable name.</summary>
    public string DisplayName { get; init; }

    /// <summary>Architecture family, e.g. "ResNet".</summary>
    public string Family { get; init; }

    /// <summary>Number of learned parameters (weights and biases).</summary>
    public long Parameters { get; init; }

    /// <summary>Multiply-accumulate operations for one image (FLOPs ≈ 2 × MACs).</summary>
    public long MultiplyAccumulates { get; init; }

    /// <summary>Number of output classes.</summary>
    public int ClassCount { get; init; }

    /// <summary>Name of the label set the outputs index into, e.g. "imagenet-1k".</summary>
    public string LabelSet { get; init; }

    /// <summary>How to turn an image into the input tensor.</summary>
    public PreprocessingSpec Preprocessing { get; init; }

    /// <summary>Whether raw outputs are logits or probabilities.</summary>
    public OutputKind OutputKind { get; init; }

    /// <summary>Layer explained by default (a 4-D feature map), if known.</summary>
    public string? DefaultTargetLayer { get; init; }

    /// <summary>Where the weights come from.</summary>
    public string? Source { get; init; }

    /// <summary>Licence of the weights.</summary>
    public string? Licence { get; init; }

    /// <summary>Assumptions made while loading (e.g. no manifest); shown to users.</summary>
    public IReadOnlyList<string> Warnings { get; init; }

    /// <summary>Floating-point operations per image, counted as 2 per multiply-accumulate.</summary>
    public double GigaFlops => 2.0 * MultiplyAccumulates / 1e9;
}
