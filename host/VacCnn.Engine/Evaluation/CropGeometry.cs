using VacCnn.Contracts;

namespace VacCnn.Engine.Evaluation;

/// <summary>A rectangle in original-image pixel coordinates (x right, y down; may be fractional).</summary>
public readonly record struct CropRect(double X, double Y, double Width, double Height);

/// <summary>
/// Where the model input comes from in the original image, for <see cref="ImagePreprocessor"/>: used to place
/// saliency maps (computed on the crop) back onto the original picture.
/// </summary>
public static class CropGeometry
{
    /// <summary>
    /// The rectangle of a <paramref name="width"/> × <paramref name="height"/> image that the
    /// <see cref="PreprocessingSpec.CropWidth"/> × <see cref="PreprocessingSpec.CropHeight"/> crop covers.
    /// </summary>
    /// <remarks>
    /// Mirrors the preprocessor exactly (<see cref="TriangleResampler"/>): torchvision's Resize(R) gives
    /// <c>int(R · long / short)</c> on the longer side, so the scales along x and y can differ by a fraction of a
    /// pixel; CenterCrop starts at <c>round((resized − crop) / 2)</c>.
    /// </remarks>
    public static CropRect SourceRect(int width, int height, PreprocessingSpec spec)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        var (nw, nh) = TriangleResampler.ResizedSize(width, height, spec.ResizeShorterSide);
        var (ox, oy) = TriangleResampler.CropOffset(nw, nh, spec);
        double sx = (double)width / nw, sy = (double)height / nh;
        return new CropRect(ox * sx, oy * sy, spec.CropWidth * sx, spec.CropHeight * sy);
    }
}
