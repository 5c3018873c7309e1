using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using VacCnn.Contracts;

namespace VacCnn.Engine.Explanations;

/// <summary>
/// Red, green and blue histograms of the pixels a model found salient (saliency ≥ threshold): what colours the
/// explanation focuses on.
/// </summary>
/// <param name="Red">Counts per red bin.</param>
/// <param name="Green">Counts per green bin.</param>
/// <param name="Blue">Counts per blue bin.</param>
/// <param name="PixelCount">Number of pixels counted (each appears once in every channel).</param>
public sealed record ColorHistogram(int[] Red, int[] Green, int[] Blue, int PixelCount)
{
    /// <summary>Number of bins.</summary>
    public int Bins => Red.Length;

    /// <summary>
    /// Counts the pixels of <paramref name="image"/> whose saliency is ≥ <paramref name="threshold"/>; channel value
    /// v (0..255) falls in bin <c>v · bins / 256</c> (integer division), so 256 bins are exact values and 32 bins
    /// are groups of 8.
    /// </summary>
    public static ColorHistogram Compute(Image<Rgb24> image, SaliencyMap mapAtImageResolution, double threshold, int bins = 256)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(mapAtImageResolution);
        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bins, 256);
        var map = mapAtImageResolution;
        if (map.Width != image.Width || map.Height != image.Height)
            throw new ArgumentException(
                $"map is {map.Width}×{map.Height} but the image is {image.Width}×{image.Height}; place the map onto the image first (MapPlacement.ToOriginal)",
                nameof(mapAtImageResolution));
        var r = new int[bins]; var g = new int[bins]; var b = new int[bins];
        int count = 0;
        image.ProcessPixelRows(access =>
        {
            for (int y = 0; y < access.Height; y++)
            {
                var row = access.GetRowSpan(y);
                for (int x = 0; x < row.Length; x++)
                {
                    if (map.Values[y * map.Width + x] < threshold) continue;
                    var p = row[x];
                    r[p.R * bins / 256]++; g[p.G * bins / 256]++; b[p.B * bins / 256]++;
                    count++;
                }
            }
        });
        return new ColorHistogram(r, g, b, count);
    }
}
