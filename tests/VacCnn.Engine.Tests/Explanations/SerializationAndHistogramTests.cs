using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using VacCnn.Contracts;
using VacCnn.Engine.Explanations;

namespace VacCnn.Engine.Tests.Explanations;

public class SerializationAndHistogramTests
{
    [Fact]
    public void Compact_format_layout_by_hand_and_round_trip_within_half_a_step()
    {
        var map = new SaliencyMap(3, 2, [0f, 1f, 0.5f, 0.25f, 0.999f, 0.002f], 0, 1, null);
        byte[] b = MapSerializer.ToCompact(map);
        // "VSM1", width 3, height 2 (uint16 LE), then round(255·v): 0, 255, 128 (127.5 rounds up), 64 (63.75), 255, 1.
        Assert.Equal(new byte[] { (byte)'V', (byte)'S', (byte)'M', (byte)'1', 3, 0, 2, 0, 0, 255, 128, 64, 255, 1 }, b);
        var (w, h, v) = MapSerializer.FromCompact(b);
        Assert.Equal((3, 2), (w, h));
        for (int i = 0; i < v.Length; i++) Assert.InRange(Math.Abs(v[i] - map.Values[i]), 0, 0.5 / 255 + 1e-7);
        Assert.Throws<InvalidDataException>(() => MapSerializer.FromCompact(b[..^1]));
    }

    [Fact]
    public void Npy_round_trip_is_exact_with_shape_height_width()
    {
        var rng = new Random(5);
        var map = new SaliencyMap(5, 3, Enumerable.Range(0, 15).Select(_ => (float)rng.NextDouble()).ToArray(), 0, 1, null);
        byte[] bytes = MapSerializer.ToNpy(map);
        Assert.Contains("'shape': (3, 5)", System.Text.Encoding.ASCII.GetString(bytes, 0, 128));
        var (w, h, v) = MapSerializer.ReadNpy(new MemoryStream(bytes));
        Assert.Equal((5, 3), (w, h));
        Assert.Equal(map.Values, v);
    }

    [Fact]
    public void Histogram_of_a_hand_made_image()
    {
        using var img = new Image<Rgb24>(3, 2);
        img[0, 0] = new Rgb24(10, 20, 30);   img[1, 0] = new Rgb24(10, 200, 255); img[2, 0] = new Rgb24(0, 0, 0);
        img[0, 1] = new Rgb24(255, 7, 8);    img[1, 1] = new Rgb24(9, 9, 9);      img[2, 1] = new Rgb24(1, 2, 3);
        // Salient (≥ 0.5): (0,0), (1,0), (0,1); the others are not counted.
        var map = new SaliencyMap(3, 2, [0.5f, 0.9f, 0.49f, 1f, 0.1f, 0f], 0, 1, null);
        var full = ColorHistogram.Compute(img, map, 0.5);
        Assert.Equal(3, full.PixelCount);
        Assert.Equal(2, full.Red[10]); Assert.Equal(1, full.Red[255]); Assert.Equal(3, full.Red.Sum());
        Assert.Equal(1, full.Green[20]); Assert.Equal(1, full.Green[200]); Assert.Equal(1, full.Green[7]);
        Assert.Equal(1, full.Blue[30]); Assert.Equal(1, full.Blue[255]); Assert.Equal(1, full.Blue[8]);
        Assert.Equal(0, full.Red[9]); // (9, 9, 9) is below the threshold

        var coarse = ColorHistogram.Compute(img, map, 0.5, bins: 32); // bin = v / 8
        Assert.Equal(32, coarse.Bins);
        Assert.Equal(2, coarse.Red[1]); Assert.Equal(1, coarse.Red[31]);
        Assert.Equal(1, coarse.Green[2]); Assert.Equal(1, coarse.Green[25]); Assert.Equal(1, coarse.Green[0]);
        Assert.Equal(1, coarse.Blue[3]); Assert.Equal(1, coarse.Blue[31]); Assert.Equal(1, coarse.Blue[1]);

        Assert.Throws<ArgumentException>(() => ColorHistogram.Compute(img, new SaliencyMap(2, 2, new float[4], 0, 1, null), 0.5));
    }
}
