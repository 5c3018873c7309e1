using System.Buffers.Binary;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using VacCnn.Contracts;
using VacCnn.Engine.Evaluation;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Evaluation;

public class ImagePreprocessorTests
{
    private static readonly PreprocessingSpec Torch = PreprocessingSpec.TorchVision();
    private static readonly string Tench = Path.Combine(TestPaths.ImageNetSamples, "n01440764_tench.JPEG");
    private static readonly string Goldfish = Path.Combine(TestPaths.ImageNetSamples, "n01443537_goldfish.JPEG");
    private static readonly string Shark = Path.Combine(TestPaths.ImageNetSamples, "n01484850_great_white_shark.JPEG");

    /// <summary>The 0..255 value of tensor channel c at (x, y) of batch item <paramref name="item"/> (undoes mean/std).</summary>
    private static double Value(PreprocessedBatch b, PreprocessingSpec spec, int item, int c, int x, int y) =>
        b.Tensor.Item(item)[(c * spec.CropHeight + y) * spec.CropWidth + x] * spec.Std[c] + spec.Mean[c];

    private static void AssertColour(PreprocessedBatch b, PreprocessingSpec spec, int x, int y, (int, int, int) expected, double tol, int item = 0)
    {
        var (e0, e1, e2) = expected;
        var actual = (Value(b, spec, item, 0, x, y), Value(b, spec, item, 1, x, y), Value(b, spec, item, 2, x, y));
        Assert.True(Math.Abs(actual.Item1 - e0) <= tol && Math.Abs(actual.Item2 - e1) <= tol && Math.Abs(actual.Item3 - e2) <= tol,
            $"at ({x},{y}) expected {expected} ± {tol}, got ({actual.Item1:F1}, {actual.Item2:F1}, {actual.Item3:F1})");
    }

    private static Image<Rgb24> Quadrants(int w, int h, int splitX, int splitY, Rgb24 tl, Rgb24 tr, Rgb24 bl, Rgb24 br)
    {
        var img = new Image<Rgb24>(w, h);
        img.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < h; y++)
            {
                var row = rows.GetRowSpan(y);
                for (int x = 0; x < w; x++) row[x] = y < splitY ? (x < splitX ? tl : tr) : (x < splitX ? bl : br);
            }
        });
        return img;
    }

    private static readonly Rgb24 Red = new(255, 0, 0), Green = new(0, 255, 0), Blue = new(0, 0, 255), White = new(255, 255, 255);

    [Fact]
    public void Quadrants_LandInTheRightPlaces_WithTheRightChannels()
    {
        using var dir = new TempDir();
        string path = dir.Combine("q.png");
        // 600x400, split at x = 200 (off-centre) and y = 200. By hand: shorter side 400 -> 256 (scale 0.64), resized
        // 384x256, centre crop starts at x = (384-224)/2 = 80, y = 16. x = 200 -> 128 -> crop column 48;
        // y = 200 -> 128 -> crop row 112.
        using (var img = Quadrants(600, 400, 200, 200, Red, Green, Blue, White)) img.SaveAsPng(path);

        var b = new ImagePreprocessor(Torch).Preprocess([path]);

        Assert.Equal([1, 3, 224, 224], b.Tensor.Shape);
        AssertColour(b, Torch, 20, 50, (255, 0, 0), 1);
        AssertColour(b, Torch, 44, 108, (255, 0, 0), 1);
        AssertColour(b, Torch, 52, 50, (0, 255, 0), 1);
        AssertColour(b, Torch, 200, 108, (0, 255, 0), 1);
        AssertColour(b, Torch, 44, 116, (0, 0, 255), 1);
        AssertColour(b, Torch, 10, 220, (0, 0, 255), 1);
        AssertColour(b, Torch, 52, 116, (255, 255, 255), 1);
        AssertColour(b, Torch, 220, 220, (255, 255, 255), 1);

        // BGR models get the planes the other way round.
        var bgr = Torch with { Channels = ChannelOrder.Bgr };
        var b2 = new ImagePreprocessor(bgr).Preprocess([path]);
        AssertColour(b2, bgr, 20, 50, (0, 0, 255), 1);
        AssertColour(b2, bgr, 52, 50, (0, 255, 0), 1);
        AssertColour(b2, bgr, 44, 116, (255, 0, 0), 1);

        // CropGeometry agrees with the hand computation: the crop is x 125..475, y 25..375 of the original.
        Assert.Equal(new CropRect(125, 25, 350, 350), CropGeometry.SourceRect(600, 400, Torch));
    }

    [Theory]
    [InlineData(12, false)] // border 12 px -> 10.2 px after resize, crop starts 16 px in: border gone
    [InlineData(30, true)]  // border 30 px -> 25.6 px: the top and bottom ~9.6 rows of the crop are border
    public void ColouredBorder_IsCroppedAwayUnlessItIsWiderThanTheCropMargin(int border, bool visible)
    {
        using var dir = new TempDir();
        string path = dir.Combine("border.png");
        var inner = new Rgb24(40, 80, 200);
        using (var img = new Image<Rgb24>(512, 300, Red))
        {
            img.ProcessPixelRows(rows =>
            {
                for (int y = border; y < 300 - border; y++) rows.GetRowSpan(y)[border..(512 - border)].Fill(inner);
            });
            img.SaveAsPng(path);
        }

        var b = new ImagePreprocessor(Torch).Preprocess([path]);

        // Crop row y covers original row (16 + y) / 0.8533; column x covers original (106 + x) / 0.8533 >= 124.
        if (!visible)
        {
            for (int y = 0; y < 224; y += 3)
                for (int x = 0; x < 224; x += 3)
                    AssertColour(b, Torch, x, y, (40, 80, 200), 2);
        }
        else
        {
            AssertColour(b, Torch, 112, 0, (255, 0, 0), 2);   // original row 18.75
            AssertColour(b, Torch, 112, 5, (255, 0, 0), 2);   // original row 24.6
            AssertColour(b, Torch, 112, 20, (40, 80, 200), 2); // original row 42.2
            AssertColour(b, Torch, 0, 112, (40, 80, 200), 2);  // original column 124
            AssertColour(b, Torch, 112, 223, (255, 0, 0), 2); // original row 280.1
        }
    }

    public static TheoryData<string> ColourModes => ["rgb-jpeg", "gray-jpeg", "gray-png", "palette-png", "rgba-png", "graya-png", "rgb48-png", "cmyk-jpeg"];

    /// <summary>Writes a 96x64 four-quadrant image in the given colour mode; returns the expected RGB per quadrant
    /// and the tolerance (JPEG is lossy).</summary>
    private static ((int, int, int)[] Colours, double Tol) WriteMode(string mode, string path)
    {
        (int, int, int)[] rgb = [(220, 30, 30), (30, 200, 40), (30, 40, 210), (240, 230, 40)];
        (int, int, int)[] grey = [(30, 30, 30), (90, 90, 90), (160, 160, 160), (230, 230, 230)];
        Rgb24 C((int R, int G, int B) c) => new((byte)c.R, (byte)c.G, (byte)c.B);
        Image<Rgb24> Q((int, int, int)[] c) => Quadrants(96, 64, 48, 32, C(c[0]), C(c[1]), C(c[2]), C(c[3]));
        switch (mode)
        {
            case "rgb-jpeg":
                using (var i = Q(rgb)) i.SaveAsJpeg(path, new JpegEncoder { Quality = 95 });
                return (rgb, 12);
            case "gray-jpeg":
                using (var i = Q(grey).CloneAs<L8>()) i.SaveAsJpeg(path, new JpegEncoder { Quality = 95, ColorType = JpegColorType.Luminance });
                return (grey, 4);
            case "gray-png":
                using (var i = Q(grey).CloneAs<L8>()) i.SaveAsPng(path, new PngEncoder { ColorType = PngColorType.Grayscale, BitDepth = PngBitDepth.Bit8 });
                return (grey, 1);
            case "palette-png":
                using (var i = Q(rgb)) i.SaveAsPng(path, new PngEncoder { ColorType = PngColorType.Palette });
                return (rgb, 1);
            case "rgba-png":
            {
                // Alpha 0 in the top-left quadrant, 128 in the top-right: the stored colour must come back (alpha
                // dropped as by PIL's convert("RGB")), not a blend with black or white.
                using var i = Q(rgb).CloneAs<Rgba32>();
                i.ProcessPixelRows(rows =>
                {
                    for (int y = 0; y < 32; y++)
                    {
                        var row = rows.GetRowSpan(y);
                        for (int x = 0; x < 96; x++) row[x].A = (byte)(x < 48 ? 0 : 128);
                    }
                });
                i.SaveAsPng(path, new PngEncoder { ColorType = PngColorType.RgbWithAlpha, TransparentColorMode = PngTransparentColorMode.Preserve });
                return (rgb, 1);
            }
            case "graya-png":
            {
                using var i = Q(grey).CloneAs<La16>();
                i.ProcessPixelRows(rows => { for (int x = 0; x < 96; x++) rows.GetRowSpan(0)[x].A = 0; });
                i.SaveAsPng(path, new PngEncoder { ColorType = PngColorType.GrayscaleWithAlpha, TransparentColorMode = PngTransparentColorMode.Preserve });
                return (grey, 1);
            }
            case "rgb48-png":
                using (var i = Q(rgb).CloneAs<Rgb48>()) i.SaveAsPng(path, new PngEncoder { ColorType = PngColorType.Rgb, BitDepth = PngBitDepth.Bit16 });
                return (rgb, 1);
            case "cmyk-jpeg":
                // ImageSharp cannot write CMYK: Pillow (Debian python3-pil, installed by .ci/run) writes the same
                // quadrants with the naive conversion C = 255 − R, M = 255 − G, Y = 255 − B, K = 0.
                VacCnn.TestSupport.ReferencePython.Run($"""
                    from PIL import Image
                    im = Image.new('RGB', (96, 64))
                    for (x0, y0, c) in [(0, 0, (220, 30, 30)), (48, 0, (30, 200, 40)), (0, 32, (30, 40, 210)), (48, 32, (240, 230, 40))]:
                        im.paste(c, (x0, y0, x0 + 48, y0 + 32))
                    im.convert('CMYK').save(r'{path}', quality=95)
                    """);
                return (rgb, 12);
            default:
                throw new ArgumentOutOfRangeException(nameof(mode));
        }
    }

    [Theory]
    [MemberData(nameof(ColourModes))]
    public void EveryColourMode_EndsUpAsRgbWithTheRightColours(string mode)
    {
        using var dir = new TempDir();
        string path = dir.Combine(mode + (mode.EndsWith("jpeg") ? ".jpg" : ".png"));
        var (colours, tol) = WriteMode(mode, path);

        var b = new ImagePreprocessor(Torch).Preprocess([path]);

        Assert.True(b.Skipped.Count == 0, string.Join("; ", b.Skipped));
        // 96x64 -> 384x256, crop from x 80, y 16: quadrant boundary (48, 32) -> (192, 128) -> crop (112, 112).
        AssertColour(b, Torch, 40, 40, colours[0], tol);
        AssertColour(b, Torch, 184, 40, colours[1], tol);
        AssertColour(b, Torch, 40, 184, colours[2], tol);
        AssertColour(b, Torch, 184, 184, colours[3], tol);
        // The reference decoder (ImageSharp) sees the same picture.
        var (mad, corr) = ImagePreprocessorAgreementTests.Compare(b.Tensor.Item(0), ReferencePreprocessor.Preprocess(path, Torch));
        Assert.True(mad < 0.05 && corr > 0.99, $"vs reference: MAD {mad:F4}, r {corr:F5}");
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }

    /// <summary>A syntactically valid PNG whose header claims <paramref name="w"/> x <paramref name="h"/> (no pixel data
    /// worth decoding).</summary>
    private static byte[] PngHeaderOnly(int w, int h)
    {
        var ms = new MemoryStream();
        ms.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        void Chunk(string type, byte[] body)
        {
            Span<byte> len = stackalloc byte[4];
            BinaryPrimitives.WriteInt32BigEndian(len, body.Length);
            ms.Write(len);
            byte[] typed = [.. System.Text.Encoding.ASCII.GetBytes(type), .. body];
            ms.Write(typed);
            BinaryPrimitives.WriteUInt32BigEndian(len, Crc32(typed));
            ms.Write(len);
        }
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, w);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), h);
        ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
        Chunk("IHDR", ihdr);
        Chunk("IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        Chunk("IEND", []);
        return ms.ToArray();
    }

    [Fact]
    public void BadFiles_AreSkippedWithReasons_AndTheGoodOnesStillComeBackInOrder()
    {
        using var dir = new TempDir();
        string P(string name) => dir.Combine(name);
        File.WriteAllBytes(P("empty.JPEG"), []);
        var tench = File.ReadAllBytes(Tench);
        File.WriteAllBytes(P("truncated.JPEG"), tench[..(tench.Length / 2)]);
        File.WriteAllText(P("text.JPEG"), "this is not a JPEG at all\n");
        File.WriteAllBytes(P("huge.png"), PngHeaderOnly(100_000, 100_000));
        // ImageSharp reads this header fine but SkiaSharp's libjpeg refuses 12-bit precision, so it fails inside the
        // ML.NET cursor: exercises the skip-and-restart path.
        var p12 = (byte[])tench.Clone();
        int sof = Enumerable.Range(2, p12.Length - 3).First(i => p12[i] == 0xFF && p12[i + 1] == 0xC0);
        p12[sof + 4] = 12;
        File.WriteAllBytes(P("precision12.JPEG"), p12);

        string[] paths = [Tench, P("empty.JPEG"), Goldfish, P("truncated.JPEG"), P("text.JPEG"), P("huge.png"),
            P("missing.JPEG"), P("precision12.JPEG"), Shark];
        var pre = new ImagePreprocessor(Torch) { DegreeOfParallelism = 1 };
        var b = pre.Preprocess(paths);

        Assert.True(b.Decoded.SequenceEqual([0, 2, 8]), string.Join("; ", b.Skipped));
        Assert.Equal([3, 3, 224, 224], b.Tensor.Shape);
        Assert.Equal([1, 3, 4, 5, 6, 7], b.Skipped.Select(s => s.Position));
        var why = b.Skipped.ToDictionary(s => s.Position, s => s.Reason);
        Assert.Contains("empty", why[1]);
        Assert.Contains("truncated JPEG", why[3]);
        Assert.Contains("not an image", why[4]);
        Assert.Contains("too large: 100000x100000", why[5]);
        Assert.Contains("not found", why[6]);
        Assert.Contains("cannot decode", why[7]);

        // The good rows are exactly what each file gives on its own (nothing shifted or mixed up).
        for (int k = 0; k < 3; k++)
        {
            var alone = pre.Preprocess([paths[b.Decoded[k]]]);
            Assert.True(alone.Tensor.Item(0).SequenceEqual(b.Tensor.Item(k)), $"row {k}");
        }
        // And they are the right images, not just any image: compare with the independent reference.
        Assert.True(ImagePreprocessorAgreementTests.Compare(b.Tensor.Item(2), ReferencePreprocessor.Preprocess(Shark, Torch)).Corr > 0.98);
    }

    [Fact]
    public void AllBad_GivesAnEmptyTensor()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.Combine("a.jpg"), []);
        var b = new ImagePreprocessor(Torch).Preprocess([dir.Combine("a.jpg"), dir.Combine("b.jpg")]);
        Assert.Empty(b.Decoded);
        Assert.Equal([0, 3, 224, 224], b.Tensor.Shape);
        Assert.Empty(b.Tensor.Data);
        Assert.Equal(2, b.Skipped.Count);
    }

    [Fact]
    public void ConcurrentCalls_OnOneInstance_GiveTheSameTensorsAsSequentialCalls()
    {
        var files = Directory.GetFiles(TestPaths.ImageNetSamples).Order(StringComparer.Ordinal).Take(24).ToList();
        var pre = new ImagePreprocessor(Torch);
        var batches = Enumerable.Range(0, 4).Select(k => files.Skip(k * 6).Take(6).ToList()).ToList();
        var sequential = batches.Select(pre.Preprocess).ToList();

        var parallel = new PreprocessedBatch[4];
        Parallel.For(0, 16, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => parallel[i % 4] = pre.Preprocess(batches[i % 4]));

        for (int k = 0; k < 4; k++) Assert.Equal(sequential[k].Tensor.Data, parallel[k].Tensor.Data);
        // Different images really differ (the comparison above is not trivially true).
        Assert.NotEqual(sequential[0].Tensor.Data, sequential[1].Tensor.Data);
    }

    [Fact]
    public void UnusableSpecs_AreRejectedUpFront()
    {
        Assert.Throws<ArgumentException>(() => new ImagePreprocessor(PreprocessingSpec.TorchVision(crop: 300, resize: 256)));
        Assert.Throws<ArgumentException>(() => new ImagePreprocessor(Torch with { Std = [1f, 0f, 1f] }));
        Assert.Throws<ArgumentException>(() => new ImagePreprocessor(Torch with { Mean = [1f, 1f] }));
    }
}
