using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using VacCnn.Contracts;
using VacCnn.Engine.Explanations;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Explanations;

public class HeatmapRendererTests
{
    private static SaliencyMap Blob(int w, int h, double cx, double cy, double sigma) => new(w, h,
        Enumerable.Range(0, w * h).Select(i =>
        {
            double dx = i % w - cx, dy = i / w - cy;
            return (float)Math.Exp(-(dx * dx + dy * dy) / (2 * sigma * sigma));
        }).ToArray(), 1, 0.9f, null);

    [Fact]
    public void Colormap_endpoints_match_the_published_tables()
    {
        // matplotlib: viridis[0] = (0.267004, 0.004874, 0.329415) → #440154; viridis[255] → #FDE725;
        // inferno[0] → #000004, inferno[255] → #FCFFA4; jet(0) = (0, 0, 0.5), jet(0.5) = (0.4838…, 1, 0.4838…).
        Assert.Equal(new Rgb24(0x44, 0x01, 0x54), Colormaps.Map("viridis", 0));
        Assert.Equal(new Rgb24(0xFD, 0xE7, 0x25), Colormaps.Map("viridis", 1));
        Assert.Equal(new Rgb24(0x00, 0x00, 0x04), Colormaps.Map("inferno", 0));
        Assert.Equal(new Rgb24(0xFC, 0xFF, 0xA4), Colormaps.Map("inferno", 1));
        Assert.Equal(new Rgb24(0, 0, 128), Colormaps.Map("jet", 0));
        var (r, g, b) = Colormaps.MapUnit("jet", 0.5);
        Assert.Equal((0.5 - 0.35) / (0.66 - 0.35), r, 9);
        Assert.Equal(1, g, 9);
        Assert.Equal(1 - (0.5 - 0.34) / (0.65 - 0.34), b, 9);
        // viridis at 0.5 is table entry 127.5: between 127 (0.128729, 0.563265, 0.551229) and 128 — within 0.005.
        var (vr, vg, vb) = Colormaps.MapUnit("viridis", 0.5);
        Assert.Equal((0.128729 + 0.127568) / 2, vr, 0.003); Assert.Equal((0.563265 + 0.566949) / 2, vg, 0.003); Assert.Equal((0.551229 + 0.550556) / 2, vb, 0.003);
        Assert.Throws<ArgumentException>(() => Colormaps.Map("rainbow", 0.5));
    }

    [Fact]
    public void Iso_lines_of_a_cone_are_a_closed_circle_at_the_right_radius()
    {
        // f = 1 − r / 20 around (32.5, 32.5) in image coordinates; the 0.485 level is the circle r = 10.3
        // (chosen so that no pixel centre lies exactly on it: ties make degenerate zero-length pieces).
        int n = 64;
        var f = new double[n * n];
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++)
                f[y * n + x] = 1 - Math.Sqrt(Math.Pow(x + 0.5 - 32.5, 2) + Math.Pow(y + 0.5 - 32.5, 2)) / 20;
        var segs = Contours.IsoLines(f, n, n, 0.485);
        Assert.NotEmpty(segs);
        foreach (var s in segs)
        {
            Assert.Equal(10.3, Math.Sqrt(Math.Pow(s.X0 - 32.5, 2) + Math.Pow(s.Y0 - 32.5, 2)), 0.05);
            Assert.Equal(10.3, Math.Sqrt(Math.Pow(s.X1 - 32.5, 2) + Math.Pow(s.Y1 - 32.5, 2)), 0.05);
        }
        // Closed: every endpoint is shared by exactly two segments.
        var ends = segs.SelectMany(s => new[] { (Math.Round(s.X0, 9), Math.Round(s.Y0, 9)), (Math.Round(s.X1, 9), Math.Round(s.Y1, 9)) })
            .GroupBy(p => p).ToList();
        Assert.All(ends, g => Assert.Equal(2, g.Count()));
        // Total length ≈ circumference 2π·10.3.
        double length = segs.Sum(s => Math.Sqrt(Math.Pow(s.X1 - s.X0, 2) + Math.Pow(s.Y1 - s.Y0, 2)));
        Assert.Equal(2 * Math.PI * 10.3, length, 0.5);
    }

    [Fact]
    public void Overlay_leaves_pixels_below_threshold_alone_and_blends_above()
    {
        using var img = new Image<Rgb24>(40, 30, new Rgb24(100, 100, 100));
        var map = Blob(40, 30, 20, 15, 5);
        var o = new HeatmapOptions(Threshold: 0.5, Alpha: 0.5, ContourLevels: 0);
        using var overlay = HeatmapRenderer.RenderOverlay(img, map, o);
        Assert.Equal(new Rgb24(100, 100, 100), overlay[0, 0]);
        // Peak pixel (20, 15), saliency 1 → viridis(1) = (253, 231, 37); half-way from grey: (176.5, 165.5, 68.5) → rounded.
        Assert.Equal(new Rgb24(177, 166, 69), overlay[20, 15]);

        using var filtered = HeatmapRenderer.RenderFiltered(img, map, o with { FilteredDim = 0.25 });
        Assert.Equal(new Rgb24(25, 25, 25), filtered[0, 0]);
        Assert.Equal(new Rgb24(100, 100, 100), filtered[20, 15]);

        Assert.Throws<ArgumentException>(() => HeatmapRenderer.RenderOverlay(img, Blob(10, 10, 5, 5, 2), o));
        Assert.Throws<ArgumentException>(() => HeatmapRenderer.RenderOverlay(img, map, o with { Colormap = "nope" }));
        Assert.Equal(new[] { 0.5, 2 / 3.0, 5 / 6.0, 1 }, new HeatmapOptions(Threshold: 0.5).Levels(), (x, y) => Math.Abs(x - y) < 1e-12);
    }

    [Fact]
    public void Renders_a_real_picture_with_contours()
    {
        string path = Path.Combine(TestPaths.ImageNetSamples, "n01443537_goldfish.JPEG");
        if (!File.Exists(path)) return; // shared data absent on this machine
        using var img = Image.Load<Rgb24>(path);
        var map = Blob(img.Width, img.Height, img.Width * 0.45, img.Height * 0.5, Math.Min(img.Width, img.Height) / 6.0);
        var o = new HeatmapOptions(Threshold: 0.3);
        byte[] overlay = HeatmapRenderer.OverlayPng(img, map, o);
        byte[] filtered = HeatmapRenderer.FilteredPng(img, map, o);
        using var decoded = Image.Load<Rgb24>(overlay);
        Assert.Equal((img.Width, img.Height), (decoded.Width, decoded.Height));
        Assert.Equal(img[0, 0], decoded[0, 0]); // far corner untouched
        // Visual check: set VACCNN_RENDER_OUT to a folder to keep the pictures.
        if (Environment.GetEnvironmentVariable("VACCNN_RENDER_OUT") is { Length: > 0 } outDir)
        {
            Directory.CreateDirectory(outDir);
            File.WriteAllBytes(Path.Combine(outDir, "goldfish-overlay.png"), overlay);
            File.WriteAllBytes(Path.Combine(outDir, "goldfish-filtered.png"), filtered);
            foreach (var cm in new[] { "jet", "inferno" })
                File.WriteAllBytes(Path.Combine(outDir, $"goldfish-{cm}.png"), HeatmapRenderer.OverlayPng(img, map, o with { Colormap = cm }));
        }
    }
}
