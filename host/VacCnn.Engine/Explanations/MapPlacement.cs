using VacCnn.Contracts;

namespace VacCnn.Engine.Explanations;

/// <summary>Puts a map computed on the model's crop back onto the original picture.</summary>
public static class MapPlacement
{
    /// <summary>
    /// The crop-resolution map stretched bilinearly over <paramref name="cropRect"/> (original-image pixels, may be
    /// fractional, e.g. from <c>CropGeometry.SourceRect</c>), 0 outside it. Sampling uses pixel centres
    /// (half-pixel convention, like torchvision / OpenCV <c>resize</c>) and edge clamping, so every value is a convex
    /// combination of map values and stays in [0, 1].
    /// </summary>
    public static SaliencyMap ToOriginal(SaliencyMap cropMap, int originalWidth, int originalHeight,
        (double X, double Y, double Width, double Height) cropRect)
    {
        ArgumentNullException.ThrowIfNull(cropMap);
        ArgumentOutOfRangeException.ThrowIfLessThan(originalWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(originalHeight, 1);
        if (!(cropRect.Width > 0 && cropRect.Height > 0))
            throw new ArgumentException($"crop rectangle must have a positive size, got {cropRect.Width}×{cropRect.Height}", nameof(cropRect));
        if (cropMap.Values.Length != (long)cropMap.Width * cropMap.Height)
            throw new ArgumentException($"map holds {cropMap.Values.Length} values, expected {cropMap.Width}×{cropMap.Height}", nameof(cropMap));

        var (xs, fx) = Axis(originalWidth, cropRect.X, cropRect.Width, cropMap.Width);
        var (ys, fy) = Axis(originalHeight, cropRect.Y, cropRect.Height, cropMap.Height);
        var output = new float[originalWidth * originalHeight];
        int mw = cropMap.Width;
        var v = cropMap.Values;
        for (int py = 0; py < originalHeight; py++)
        {
            int y0 = ys[py];
            if (y0 < 0) continue;
            int y1 = Math.Min(y0 + 1, cropMap.Height - 1);
            double wy = fy[py];
            for (int px = 0; px < originalWidth; px++)
            {
                int x0 = xs[px];
                if (x0 < 0) continue;
                int x1 = Math.Min(x0 + 1, mw - 1);
                double wx = fx[px];
                double top = v[y0 * mw + x0] * (1 - wx) + v[y0 * mw + x1] * wx;
                double bottom = v[y1 * mw + x0] * (1 - wx) + v[y1 * mw + x1] * wx;
                output[py * originalWidth + px] = (float)Math.Clamp(top * (1 - wy) + bottom * wy, 0, 1);
            }
        }
        return cropMap with { Width = originalWidth, Height = originalHeight, Values = output };
    }

    /// <summary>Per output pixel along one axis: left/top source index (−1 = outside the crop) and interpolation weight.</summary>
    private static (int[] Index, double[] Frac) Axis(int outN, double start, double length, int mapN)
    {
        var idx = new int[outN];
        var frac = new double[outN];
        for (int p = 0; p < outN; p++)
        {
            double centre = p + 0.5;
            if (centre < start || centre >= start + length) { idx[p] = -1; continue; }
            double u = Math.Clamp((centre - start) / length * mapN - 0.5, 0, mapN - 1);
            int i = Math.Min((int)Math.Floor(u), mapN - 1);
            idx[p] = i;
            frac[p] = u - i;
        }
        return (idx, frac);
    }
}
