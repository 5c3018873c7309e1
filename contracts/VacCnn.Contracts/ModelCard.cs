namespace VacCnn.Contracts;

/// <summary>Channel order the network expects in its input tensor.</summary>
public enum ChannelOrder
{
    /// <summary>Red, green, blue (PyTorch, TF-slim).</summary>
    Rgb,
    /// <summary>Blue, green, red (Caffe-style models).</summary>
    Bgr,
}

/// <summary>What the model's output tensor holds.</summary>
public enum OutputKind
{
    /// <summary>Unnormalised class scores; the host applies softmax.</summary>
    Logits,
    /// <summary>Already probabilities (sum to 1).</summary>
    Probabilities,
}

/// <summary>
/// How an RGB image becomes the model's input tensor: resize the shorter side to <see cref="ResizeShorterSide"/>
/// (bilinear), centre-crop <see cref="CropHeight"/> × <see cref="CropWidth"/>, then per channel
/// <c>(pixel − Mean[c]) / Std[c]</c> with pixel values in 0..255, laid out NCHW.
/// </summary>
public sealed record PreprocessingSpec
{
    /// <summary>A preprocessing recipe.</summary>
    /// <param name="resizeShorterSide">Length of the shorter side after resizing.</param>
    /// <param name="cropWidth">Width of the centre crop.</param>
    /// <param name="cropHeight">Height of the centre crop.</param>
    /// <param name="channels">Channel order of the input tensor.</param>
    /// <param name="mean">Per-channel mean on the 0..255 scale, in <paramref name="channels"/> order.</param>
    /// <param name="std">Per-channel standard deviation on the 0..255 scale.</param>
    public PreprocessingSpec(int resizeShorterSide, int cropWidth, int cropHeight, ChannelOrder channels, float[] mean, float[] std)
    {
        ResizeShorterSide = resizeShorterSide;
        CropWidth = cropWidth;
        CropHeight = cropHeight;
        Channels = channels;
        Mean = mean;
        Std = std;
    }

    /// <summary>Length of the shorter side after resizing.</summary>
    public int ResizeShorterSide { get; init; }

    /// <summary>Width of the centre crop.</summary>
    public int CropWidth { get; init; }

    /// <summary>Height of the centre crop.</summary>
    public int CropHeight { get; init; }

    /// <summary>Channel order of the input tensor.</summary>
    public ChannelOrder Channels { get; init; }

    /// <summary>Per-channel mean on the 0..255 scale.</summary>
    public float[] Mean { get; init; }

    /// <summary>Per-channel standard deviation on the 0..255 scale.</summary>
    public float[] Std { get; init; }

    /// <summary>TorchVision / ImageNet defaults: resize 256, crop 224, ImageNet mean/std, RGB.</summary>
    public static PreprocessingSpec TorchVision(int crop = 224, int resize = 256) =>
        new(resize, crop, crop, ChannelOrder.Rgb, [123.675f, 116.28f, 103.53f], [58.395f, 57.12f, 57.375f]);
}

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
