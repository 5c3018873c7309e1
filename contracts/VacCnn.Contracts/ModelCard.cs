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
public sealed record PreprocessingSpec(
    int ResizeShorterSide,
    int CropWidth,
    int CropHeight,
    ChannelOrder Channels,
    float[] Mean,
    float[] Std)
{
    /// <summary>TorchVision / ImageNet defaults: resize 256, crop 224, ImageNet mean/std, RGB.</summary>
    public static PreprocessingSpec TorchVision(int crop = 224, int resize = 256) =>
        new(resize, crop, crop, ChannelOrder.Rgb, [123.675f, 116.28f, 103.53f], [58.395f, 57.12f, 57.375f]);
}

/// <summary>Everything the host shows about a classifier without running it.</summary>
/// <param name="Id">Stable identifier (folder name for folder-based models).</param>
/// <param name="DisplayName">Human-readable name.</param>
/// <param name="Family">Architecture family, e.g. "ResNet".</param>
/// <param name="Parameters">Number of learned parameters (weights and biases).</param>
/// <param name="MultiplyAccumulates">Multiply-accumulate operations for one image (FLOPs ≈ 2 × MACs).</param>
/// <param name="ClassCount">Number of output classes.</param>
/// <param name="LabelSet">Name of the label set the outputs index into, e.g. "imagenet-1k".</param>
/// <param name="Preprocessing">How to turn an image into the input tensor.</param>
/// <param name="OutputKind">Whether raw outputs are logits or probabilities.</param>
/// <param name="DefaultTargetLayer">Layer explained by default (a 4-D feature map), if known.</param>
/// <param name="Source">Where the weights come from.</param>
/// <param name="Licence">Licence of the weights.</param>
/// <param name="Warnings">Assumptions made while loading (e.g. no manifest); shown to users.</param>
public sealed record ModelCard(
    string Id,
    string DisplayName,
    string Family,
    long Parameters,
    long MultiplyAccumulates,
    int ClassCount,
    string LabelSet,
    PreprocessingSpec Preprocessing,
    OutputKind OutputKind,
    string? DefaultTargetLayer,
    string? Source,
    string? Licence,
    IReadOnlyList<string> Warnings)
{
    /// <summary>Floating-point operations per image, counted as 2 per multiply-accumulate.</summary>
    public double GigaFlops => 2.0 * MultiplyAccumulates / 1e9;
}
