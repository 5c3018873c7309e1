using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using VacCnn.Contracts;

namespace VacCnn.Engine.Explanations;

/// <summary>How a saliency map is drawn over its image.</summary>
/// <param name="Threshold">Pixels with saliency ≥ this are coloured (overlay) or kept (filtered image).</param>
/// <param name="Colormap">"viridis" (default), "inferno" or "jet"; see <see cref="Colormaps"/>.</param>
/// <param name="Alpha">Opacity of the colour over the image, 0 (invisible) … 1 (opaque).</param>
/// <param name="ContourLevels">Number of contour lines, evenly spaced from <see cref="Threshold"/> to 1 (0 = none).</param>
/// <param name="ContourSigma">Gaussian blur (pixels) applied to the map before tracing contours, so lines are smooth.</param>
/// <param name="ContourWidth">Contour line width in pixels.</param>
/// <param name="FilteredDim">In the filtered image, brightness kept below the threshold: 0 = black, 1 = unchanged.</param>
public sealed record HeatmapOptions(
    double Threshold = 0.5,
    string Colormap = "viridis",
    double Alpha = 0.5,
    int ContourLevels = 4,
    double ContourSigma = 5,
    double ContourWidth = 1.5,
    double FilteredDim = 0)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        if (!(Threshold is >= 0 and <= 1)) throw new ArgumentException($"threshold must be in [0, 1], got {Threshold}");
        if (!Colormaps.IsKnown(Colormap)) throw new ArgumentException($"unknown colour map '{Colormap}'; known: {string.Join(", ", Colormaps.Names)}");
        if (!(Alpha is >= 0 and <= 1)) throw new ArgumentException($"alpha must be in [0, 1], got {Alpha}");
        if (ContourLevels is < 0 or > 32) throw new ArgumentException($"contour levels must be in 0..32, got {ContourLevels}");
        if (!(ContourSigma is >= 0 and <= 100)) throw new ArgumentException($"contour blur must be in [0, 100] pixels, got {ContourSigma}");
        if (!(ContourWidth is > 0 and <= 10)) throw new ArgumentException($"contour width must be in (0, 10] pixels, got {ContourWidth}");
        if (!(FilteredDim is >= 0 and <= 1)) throw new ArgumentException($"filtered dim must be in [0, 1], got {FilteredDim}");
    }

    /// <summary>The contour levels: <see cref="ContourLevels"/> values evenly spaced from the threshold to 1 inclusive
    /// (like <c>numpy.linspace(threshold, 1, n)</c>).</summary>
    public double[] Levels() => ContourLevels switch
    {
        0 => [],
        1 => [Threshold],
        _ => Enumerable.Range(0, ContourLevels).Select(i => Threshold + (1 - Threshold) * i / (ContourLevels - 1)).ToArray(),
    };
}

/// <summary>
/// Draws explanations: (a) the heatmap overlay — the colour-mapped saliency alpha-blended over the picture where
/// saliency ≥ threshold (nothing drawn below it), plus contour lines of the blurred map; (b) the filtered image — only
/// the salient pixels, the rest dimmed or black. Maps must already be at image resolution
/// (<see cref="MapPlacement.ToOriginal"/>).
/// </summary>
public static class HeatmapRenderer
{
    /// <summary>The overlay as a new image.</summary>
    public static Image<Rgb24> RenderOverlay(Image<Rgb24> image, SaliencyMap map, HeatmapOptions? options = null)
    {
        var o = options ?? new HeatmapOptions();
        Check(image, map, o);
        var lut = Colormaps.Table(o.Colormap);
        var result = image.Clone();
        int w = image.Width;
        double alpha = o.Alpha;
        result.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < rows.Height; y++)
            {
                var row = rows.GetRowSpan(y);
                for (int x = 0; x < row.Length; x++)
                {
                    float s = map.Values[y * w + x];
                    if (!(s >= o.Threshold)) continue; // below threshold (or NaN): the picture shows through untouched
                    var c = lut[(int)Math.Round(Math.Clamp(s, 0f, 1f) * 255)];
                    row[x] = Blend(row[x], c, alpha);
                }
            }
        });
        DrawContours(result, map, o, lut);
        return result;
    }

    /// <summary>The filtered image: pixels with saliency ≥ threshold unchanged, the others multiplied by
    /// <see cref="HeatmapOptions.FilteredDim"/> (0 = black).</summary>
    public static Image<Rgb24> RenderFiltered(Image<Rgb24> image, SaliencyMap map, HeatmapOptions? options = null)
    {
        var o = options ?? new HeatmapOptions();
        Check(image, map, o);
        var result = image.Clone();
        int w = image.Width;
        result.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < rows.Height; y++)
            {
                var row = rows.GetRowSpan(y);
                for (int x = 0; x < row.Length; x++)
                {
                    if (map.Values[y * w + x] >= o.Threshold) continue;
                    var p = row[x];
                    row[x] = new Rgb24(Scale(p.R, o.FilteredDim), Scale(p.G, o.FilteredDim), Scale(p.B, o.FilteredDim));
                }
            }
        });
        return result;
    }

    /// <summary>PNG bytes of <see cref="RenderOverlay"/>.</summary>
    public static byte[] OverlayPng(Image<Rgb24> image, SaliencyMap map, HeatmapOptions? options = null)
    {
        using var img = RenderOverlay(image, map, options);
        return ToPng(img);
    }

    /// <summary>PNG bytes of <see cref="RenderFiltered"/>.</summary>
    public static byte[] FilteredPng(Image<Rgb24> image, SaliencyMap map, HeatmapOptions? options = null)
    {
        using var img = RenderFiltered(image, map, options);
        return ToPng(img);
    }

    /// <summary>Encodes an image as PNG.</summary>
    public static byte[] ToPng(Image<Rgb24> image)
    {
        using var ms = new MemoryStream();
        image.Save(ms, new PngEncoder { ColorType = PngColorType.Rgb, CompressionLevel = PngCompressionLevel.DefaultCompression });
        return ms.ToArray();
    }

    /// <summary>
    /// Contours as in the paper's code: blur the map (σ = <see cref="HeatmapOptions.ContourSigma"/>), trace each level
    /// with marching squares, and draw anti-aliased lines in the level's colour darkened to 55 % (in the level's own
    /// colour a line vanishes into the equally coloured fill around it). Coverage is kept per pixel as a
    /// maximum so that the many short segments of one curve join without dark beads where they overlap.
    /// </summary>
    private static void DrawContours(Image<Rgb24> image, SaliencyMap map, HeatmapOptions o, Rgb24[] lut)
    {
        var levels = o.Levels();
        if (levels.Length == 0) return;
        int w = image.Width, h = image.Height;
        var smooth = Contours.GaussianBlur(map.Values, w, h, o.ContourSigma);
        var coverage = new float[w * h];
        var colourIndex = new byte[w * h];
        double half = o.ContourWidth / 2;
        foreach (var level in levels)
        {
            byte ci = (byte)Math.Round(Math.Clamp(level, 0, 1) * 255);
            foreach (var s in Contours.IsoLines(smooth, w, h, level))
            {
                int xMin = Math.Max(0, (int)Math.Floor(Math.Min(s.X0, s.X1) - half - 1));
                int xMax = Math.Min(w - 1, (int)Math.Ceiling(Math.Max(s.X0, s.X1) + half + 1));
                int yMin = Math.Max(0, (int)Math.Floor(Math.Min(s.Y0, s.Y1) - half - 1));
                int yMax = Math.Min(h - 1, (int)Math.Ceiling(Math.Max(s.Y0, s.Y1) + half + 1));
                for (int y = yMin; y <= yMax; y++)
                    for (int x = xMin; x <= xMax; x++)
                    {
                        double d = DistanceToSegment(x + 0.5, y + 0.5, s);
                        // Box-filtered coverage of a line of width 2·half: 1 inside, ramps to 0 over one pixel.
                        float cov = (float)Math.Clamp(half + 0.5 - d, 0, 1);
                        int i = y * w + x;
                        if (cov > coverage[i]) { coverage[i] = cov; colourIndex[i] = ci; }
                    }
            }
        }
        image.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < rows.Height; y++)
            {
                var row = rows.GetRowSpan(y);
                for (int x = 0; x < row.Length; x++)
                {
                    float cov = coverage[y * w + x];
                    if (cov > 0) row[x] = Blend(row[x], Darken(lut[colourIndex[y * w + x]]), cov);
                }
            }
        });
    }

    private static double DistanceToSegment(double px, double py, Contours.Segment s)
    {
        double dx = s.X1 - s.X0, dy = s.Y1 - s.Y0;
        double len2 = dx * dx + dy * dy;
        double t = len2 > 0 ? Math.Clamp(((px - s.X0) * dx + (py - s.Y0) * dy) / len2, 0, 1) : 0;
        double ex = s.X0 + t * dx - px, ey = s.Y0 + t * dy - py;
        return Math.Sqrt(ex * ex + ey * ey);
    }

    private static Rgb24 Blend(Rgb24 under, Rgb24 over, double alpha) => new(
        (byte)Math.Round(under.R + (over.R - under.R) * alpha, MidpointRounding.AwayFromZero),
        (byte)Math.Round(under.G + (over.G - under.G) * alpha, MidpointRounding.AwayFromZero),
        (byte)Math.Round(under.B + (over.B - under.B) * alpha, MidpointRounding.AwayFromZero));

    private static Rgb24 Darken(Rgb24 c) => new(Scale(c.R, 0.55), Scale(c.G, 0.55), Scale(c.B, 0.55));

    private static byte Scale(byte v, double k) => (byte)Math.Round(v * k);

    private static void Check(Image<Rgb24> image, SaliencyMap map, HeatmapOptions o)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(map);
        o.Validate();
        if (map.Width != image.Width || map.Height != image.Height || map.Values.Length != map.Width * map.Height)
            throw new ArgumentException(
                $"map is {map.Width}×{map.Height} but the image is {image.Width}×{image.Height}; place the map onto the image first (MapPlacement.ToOriginal)",
                nameof(map));
    }
}
