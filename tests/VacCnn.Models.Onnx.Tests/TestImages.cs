using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using VacCnn.Contracts;
using VacCnn.TestSupport;

namespace VacCnn.Models.Onnx.Tests;

/// <summary>Test-side preprocessing (the plugin takes tensors) and the ImageNet sample labels.</summary>
internal static class TestImages
{
    private static readonly Lazy<string[]> SortedWnids = new(() =>
        Directory.GetFiles(TestPaths.ImageNetSamples, "*.JPEG").Select(f => Path.GetFileName(f)[..9]).Distinct()
            .Order(StringComparer.Ordinal).ToArray());

    /// <summary>All sample image files, sorted by name.</summary>
    public static string[] AllFiles() =>
        Directory.GetFiles(TestPaths.ImageNetSamples, "*.JPEG").Order(StringComparer.Ordinal).ToArray();

    /// <summary>Every <paramref name="count"/>-th-spread sample: a fixed, class-diverse selection.</summary>
    public static string[] Spread(int count)
    {
        var all = AllFiles();
        return Enumerable.Range(0, count).Select(i => all[i * all.Length / count]).ToArray();
    }

    /// <summary>Ground truth: position of the file's wnid among the sorted 1000 wnids.</summary>
    public static int ClassIndex(string file) => Array.BinarySearch(SortedWnids.Value, Path.GetFileName(file)[..9], StringComparer.Ordinal);

    /// <summary>Resize the shorter side (bilinear), centre-crop, (pixel − mean)/std, NCHW.</summary>
    public static FloatTensor Load(PreprocessingSpec spec, params string[] files)
    {
        int h = spec.CropHeight, w = spec.CropWidth, plane = h * w;
        var data = new float[files.Length * 3 * plane];
        for (int n = 0; n < files.Length; n++)
        {
            using var image = Image.Load<Rgb24>(files[n]);
            double scale = (double)spec.ResizeShorterSide / Math.Min(image.Width, image.Height);
            int rw = Math.Max(w, (int)Math.Round(image.Width * scale)), rh = Math.Max(h, (int)Math.Round(image.Height * scale));
            image.Mutate(x => x.Resize(rw, rh, KnownResamplers.Triangle).Crop(new Rectangle((rw - w) / 2, (rh - h) / 2, w, h)));
            int offset = n * 3 * plane;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    var p = image[x, y];
                    (byte c0, byte c1, byte c2) = spec.Channels == ChannelOrder.Rgb ? (p.R, p.G, p.B) : (p.B, p.G, p.R);
                    int i = y * w + x;
                    data[offset + i] = (c0 - spec.Mean[0]) / spec.Std[0];
                    data[offset + plane + i] = (c1 - spec.Mean[1]) / spec.Std[1];
                    data[offset + 2 * plane + i] = (c2 - spec.Mean[2]) / spec.Std[2];
                }
        }
        return new FloatTensor([files.Length, 3, h, w], data);
    }

    /// <summary>Index of the largest value in row <paramref name="row"/>.</summary>
    public static int ArgMax(FloatTensor t, int row)
    {
        var r = t.Item(row);
        int best = 0;
        for (int i = 1; i < r.Length; i++) if (r[i] > r[best]) best = i;
        return best;
    }
}
