namespace VacCnn.Contracts;

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
