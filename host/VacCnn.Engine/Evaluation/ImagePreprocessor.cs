using System.Numerics.Tensors;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using VacCnn.Contracts;

namespace VacCnn.Engine.Evaluation;

/// <summary>
/// Turns image files into model input tensors with an ML.NET pipeline (load, resize the shorter side, centre crop,
/// extract pixels, per-channel mean/std, NCHW). Unreadable files are skipped with a reason. Thread-safe.
/// </summary>
/// <remarks>
/// <para>Pipeline: ML.NET's <c>LoadImages</c> (SkiaSharp decode, BGRA) → <see cref="TriangleResampler"/> while each
/// row is copied out of the cursor: torchvision's <c>Resize(R)</c> with PIL's antialiased bilinear filter,
/// <c>CenterCrop</c>, and the per-channel <c>(x − Mean[c]) / Std[c]</c>, planar, in one pass and only over the crop.
/// ML.NET's own <c>ResizeImages</c> draws with SkiaSharp's "High" filter: on the 1000 samples it read 1.5–3 points
/// of top-1 higher than PROVENANCE.md on four models (squeezenet 49.0 % vs 46.5 %, mobilenetv2-7-quant 38.2 % vs
/// 35.0 %), and <c>ExtractPixels</c> has one offset/scale for all channels; the resampler reproduces the published
/// recipe (see the accuracy and agreement tests).</para>
/// <para>Mean/Std are indexed by tensor channel, i.e. in the spec's channel order.</para>
/// <para>Colour modes: SkiaSharp decodes grayscale and CMYK JPEGs and opaque grayscale/RGB PNGs (8 or 16 bit) to
/// 8-bit colour, which ML.NET converts to BGRA. Files that may carry alpha (PNG with an alpha channel, palette or tRNS transparency, and any format other
/// than JPEG/PNG) are decoded with ImageSharp instead, alpha dropped (like PIL's <c>convert("RGB")</c>; SkiaSharp
/// would premultiply, i.e. blend with black) and handed to the same pipeline as a temporary 24-bit BMP.
/// EXIF orientation is not applied (as in torchvision/PIL).</para>
/// <para>Bad files never throw: every file is first checked cheaply (exists, non-empty, ImageSharp
/// <c>Image.Identify</c> reads only the header, dimensions within <see cref="MaxSide"/>/<see cref="MaxPixels"/>, and
/// a JPEG/PNG end marker because SkiaSharp silently decodes truncated files as grey). If the ML.NET cursor still
/// throws, the rows not yet copied are redone one file per cursor and only the failing file is skipped. Corrupt
/// entropy-coded data that SkiaSharp decodes without error (garbled pixels) cannot be detected.</para>
/// </remarks>
public sealed class ImagePreprocessor
{
    /// <summary>Identifies what the tensors mean: part of every run id, so results computed by an earlier
    /// preprocessing (v1: SkiaSharp resize) are never shown as current.</summary>
    public const string Version = "torchvision-triangle-2";

    /// <summary>Largest accepted width or height, in pixels (checked from the header, before decoding).</summary>
    public const int MaxSide = 20_000;

    /// <summary>Largest accepted pixel count (100 Mpx; a decoded RGBA copy is then at most 400 MB).</summary>
    public const long MaxPixels = 100_000_000;

    private const string PathColumn = nameof(PathRow.ImagePath);
    private const string ImageColumn = "Image";

    private readonly MLContext _ml = new(seed: 0);
    private readonly ITransformer _fromPath;
    private readonly Recipe[] _recipes;
    private long _imagesDecoded;

    /// <summary>The scale and shift of one spec: (x − m) / s  ==  x · (1/s) + (−m/s), vectorised per row.</summary>
    private sealed record Recipe(PreprocessingSpec Spec, float[] Scale, float[] Bias)
    {
        public int PerImage => 3 * Spec.CropHeight * Spec.CropWidth;
    }

    /// <summary>Creates a preprocessor for one model's spec (the ML.NET transformers are built here, once).</summary>
    /// <exception cref="ArgumentException">The spec cannot be implemented (crop larger than the resize, bad mean/std).</exception>
    public ImagePreprocessor(PreprocessingSpec spec) : this([spec]) { }

    /// <summary>
    /// Creates a preprocessor that turns every decoded image into one tensor per spec (see <see cref="PreprocessAll"/>):
    /// models with different recipes are fed from one decode of each file.
    /// </summary>
    /// <exception cref="ArgumentException">No spec, or a spec cannot be implemented.</exception>
    public ImagePreprocessor(IReadOnlyList<PreprocessingSpec> specs)
    {
        ArgumentNullException.ThrowIfNull(specs);
        if (specs.Count == 0) throw new ArgumentException("at least one preprocessing spec is needed", nameof(specs));
        _recipes = specs.Select(RecipeOf).ToArray();
        Specs = specs.ToArray();

        // Fitted once on an empty view: LoadImages learns nothing from data.
        _fromPath = _ml.Transforms.LoadImages(ImageColumn, imageFolder: null, inputColumnName: PathColumn)
            .Fit(_ml.Data.LoadFromEnumerable(Array.Empty<PathRow>()));
    }

    private static Recipe RecipeOf(PreprocessingSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.ResizeShorterSide < 1 || spec.CropWidth < 1 || spec.CropHeight < 1)
            throw new ArgumentException($"resize and crop sizes must be positive: {spec}", nameof(spec));
        if (spec.CropWidth > spec.ResizeShorterSide || spec.CropHeight > spec.ResizeShorterSide)
            throw new ArgumentException(
                $"crop {spec.CropWidth}x{spec.CropHeight} is larger than the resized shorter side {spec.ResizeShorterSide}", nameof(spec));
        if (spec.Mean is not { Length: 3 } || spec.Std is not { Length: 3 })
            throw new ArgumentException("Mean and Std need exactly 3 values (one per channel)", nameof(spec));
        var (scale, bias) = (new float[3], new float[3]);
        for (int c = 0; c < 3; c++)
        {
            if (!float.IsFinite(spec.Std[c]) || spec.Std[c] == 0 || !float.IsFinite(spec.Mean[c]))
                throw new ArgumentException($"Std[{c}]={spec.Std[c]} / Mean[{c}]={spec.Mean[c]} is not usable", nameof(spec));
            scale[c] = 1f / spec.Std[c];
            bias[c] = -spec.Mean[c] / spec.Std[c];
        }
        return new Recipe(spec, scale, bias);
    }

    /// <summary>
    /// A key equal for two specs exactly when they give the same tensor (size, resize, crop, channel order,
    /// mean/std): models whose keys match can share one tensor.
    /// </summary>
    public static string RecipeKey(PreprocessingSpec spec) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{spec.ResizeShorterSide}|{spec.CropWidth}|{spec.CropHeight}|{spec.Channels}|{string.Join(",", spec.Mean.Select(m => m.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}|{string.Join(",", spec.Std.Select(m => m.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}");

    /// <summary>The (first) spec this preprocessor implements.</summary>
    public PreprocessingSpec Spec => Specs[0];

    /// <summary>The specs this preprocessor implements, in the order of <see cref="PreprocessAll"/>'s batches.</summary>
    public IReadOnlyList<PreprocessingSpec> Specs { get; }

    /// <summary>How many images this instance has decoded so far (each decode feeds every spec).</summary>
    public long ImagesDecoded => Interlocked.Read(ref _imagesDecoded);

    /// <summary>Parallel workers per call (default: processor count). Each takes a contiguous share of the files.
    /// ML.NET's cursor already reads rows on several threads; on 2 cores (1000 samples, 256→224, shared machine with
    /// load average 6–8) 2 workers gave 190–465 images/s and ~300 images per CPU-second, 1 worker 130–300 images/s
    /// and ~215–260 per CPU-second.</summary>
    public int DegreeOfParallelism { get; init; } = Environment.ProcessorCount;

    /// <summary>Preprocesses the files for the first spec; never throws for a bad file. Holds all rows in memory
    /// (0.6 MB per 224×224 image), so callers pass batches, not whole data sets.</summary>
    public PreprocessedBatch Preprocess(IReadOnlyList<string> paths) => PreprocessAll(paths)[0];

    /// <summary>
    /// Decodes each file once and returns one batch per spec (in the order of <see cref="Specs"/>); a file that
    /// cannot be used is skipped in every batch with the same reason. Never throws for a bad file.
    /// </summary>
    public IReadOnlyList<PreprocessedBatch> PreprocessAll(IReadOnlyList<string> paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var reasons = new string?[paths.Count];
        var route = new Route[paths.Count];
        var sizes = new (int W, int H)[paths.Count];
        var source = new string[paths.Count]; // what LoadImages reads: the file itself or a temporary BMP
        int workers = Math.Clamp(Math.Min(DegreeOfParallelism, paths.Count / 4), 1, 64);
        var ranges = Split(paths.Count, workers);
        // Output slot i belongs to request position i; rows are compacted at the end.
        var data = _recipes.Select(r => new float[(long)paths.Count * r.PerImage]).ToArray();

        Parallel.For(0, ranges.Count, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
        {
            var (start, end) = ranges[w];
            var temps = new List<string>();
            try
            {
                for (int i = start; i < end; i++)
                {
                    (route[i], sizes[i], reasons[i]) = Inspect(paths[i]);
                    source[i] = paths[i];
                    if (route[i] != Route.ImageSharp) continue;
                    try
                    {
                        temps.Add(source[i] = ToTemporaryBmp(paths[i]));
                        route[i] = Route.Skia;
                    }
                    catch (Exception e) when (e is not OutOfMemoryException)
                    {
                        (route[i], reasons[i]) = (Route.Skipped, $"cannot decode image: {Innermost(e).Message}");
                    }
                }
                RunSkia(source, route, sizes, reasons, data, start, end);
            }
            finally
            {
                foreach (string t in temps) try { File.Delete(t); } catch (IOException) { }
            }
        });

        var decoded = new List<int>(paths.Count);
        var skipped = new List<(int, string)>();
        for (int i = 0; i < paths.Count; i++)
        {
            if (reasons[i] is { } why) { skipped.Add((i, why)); continue; }
            for (int r = 0; r < _recipes.Length; r++)
            {
                int per = _recipes[r].PerImage;
                if (decoded.Count != i) Array.Copy(data[r], (long)i * per, data[r], (long)decoded.Count * per, per);
            }
            decoded.Add(i);
        }
        var batches = new PreprocessedBatch[_recipes.Length];
        for (int r = 0; r < _recipes.Length; r++)
        {
            var spec = _recipes[r].Spec;
            if (decoded.Count != paths.Count) Array.Resize(ref data[r], decoded.Count * _recipes[r].PerImage);
            batches[r] = new PreprocessedBatch(new FloatTensor([decoded.Count, 3, spec.CropHeight, spec.CropWidth], data[r]), decoded, skipped);
        }
        return batches;
    }

    private enum Route : byte { Skipped, Skia, ImageSharp }

    private static List<(int Start, int End)> Split(int count, int parts)
    {
        var ranges = new List<(int, int)>(parts);
        for (int p = 0; p < parts; p++) ranges.Add(((int)((long)count * p / parts), (int)((long)count * (p + 1) / parts)));
        return ranges;
    }

    /// <summary>Cheap checks from the file header; chooses the decoder.</summary>
    private static (Route, (int, int), string?) Inspect(string path)
    {
        try
        {
            var file = new FileInfo(path);
            if (!file.Exists) return Skip("file not found");
            if (file.Length == 0) return Skip("empty file (0 bytes)");
            IImageInfo? info;
            IImageFormat? format;
            try { info = Image.Identify(path, out format); }
            catch (Exception e) when (e is not (OutOfMemoryException or IOException or UnauthorizedAccessException))
            {
                // Decoders of hostile headers may throw anything (format, range, index errors): all mean "unusable".
                return Skip($"not a readable image: {e.Message}");
            }
            if (info is null || format is null) return Skip("not an image (unknown format)");
            if (info.Width < 1 || info.Height < 1) return Skip($"invalid image size {info.Width}x{info.Height}");
            if (info.Width > MaxSide || info.Height > MaxSide || (long)info.Width * info.Height > MaxPixels)
                return Skip($"image too large: {info.Width}x{info.Height} (limit {MaxSide} px per side, {MaxPixels / 1_000_000} Mpx)");

            var size = (info.Width, info.Height);
            if (format is JpegFormat)
                return EndsWith(path, [0xFF, 0xD9]) ? (Route.Skia, size, null) : Skip("truncated JPEG (no end-of-image marker)");
            if (format is PngFormat)
            {
                if (!EndsWith(path, "IEND"u8)) return Skip("truncated PNG (no IEND chunk)");
                var png = info.Metadata.GetPngMetadata();
                bool opaque = png.ColorType is PngColorType.Rgb or PngColorType.Grayscale && !png.HasTransparency;
                return (opaque ? Route.Skia : Route.ImageSharp, size, null);
            }
            return (Route.ImageSharp, size, null);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return Skip($"cannot read file: {e.Message}");
        }

        static (Route, (int, int), string?) Skip(string reason) => (Route.Skipped, (0, 0), reason);
    }

    /// <summary>True when <paramref name="marker"/> occurs in the last 1 KiB of the file (end markers may be followed
    /// by a little padding; markers inside the data of a JPEG/PNG cannot appear that close to a truncated end except
    /// by chance in uncompressed metadata).</summary>
    private static bool EndsWith(string path, ReadOnlySpan<byte> marker)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
        int n = (int)Math.Min(1024, fs.Length);
        Span<byte> tail = stackalloc byte[n];
        fs.Seek(-n, SeekOrigin.End);
        fs.ReadExactly(tail);
        return tail.LastIndexOf(marker) >= 0;
    }

    /// <summary>Runs the path pipeline over the Skia-routed files of [start, end) in one cursor. If the cursor throws,
    /// the rows not yet copied are redone one file per cursor, so one bad file never costs the others. (The failing
    /// row cannot be told from the exception: ML.NET reads rows on several threads and was seen to throw for a
    /// later bad file before the first row was returned.)</summary>
    private void RunSkia(IReadOnlyList<string> paths, Route[] route, (int W, int H)[] sizes, string?[] reasons, float[][] data, int start, int end)
    {
        var pending = new List<int>();
        for (int i = start; i < end; i++) if (route[i] == Route.Skia) pending.Add(i);
        if (pending.Count == 0) return;
        var copied = new bool[end - start];
        try
        {
            RunPathCursor(paths, pending, sizes, data, copied, start);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            foreach (int position in pending.Where(p => !copied[p - start]))
            {
                try { RunPathCursor(paths, [position], sizes, data, copied, start); }
                catch (Exception e1) when (e1 is not OutOfMemoryException)
                {
                    reasons[position] = $"cannot decode image: {Innermost(e1).Message}";
                }
            }
        }
    }

    private void RunPathCursor(IReadOnlyList<string> paths, IReadOnlyList<int> positions, (int W, int H)[] sizes,
        float[][] data, bool[] copied, int start)
    {
        var rows = positions.Select(p => new PathRow { ImagePath = paths[p], Position = p }).ToList();
        var view = _fromPath.Transform(_ml.Data.LoadFromEnumerable(rows));
        var imageColumn = view.Schema[ImageColumn];
        var positionColumn = view.Schema[nameof(PathRow.Position)];
        using var cursor = view.GetRowCursor([imageColumn, positionColumn]);
        var getImage = cursor.GetGetter<MLImage>(imageColumn);
        // Rows are matched by their Position column, not by order: ML.NET may consolidate several worker cursors.
        var getPosition = cursor.GetGetter<int>(positionColumn);
        int position = 0;
        while (cursor.MoveNext())
        {
            MLImage image = null!;
            getPosition(ref position);
            getImage(ref image);
            using (image) CopyOut(image, data, position, sizes[position]);
            Interlocked.Increment(ref _imagesDecoded);
            copied[position - start] = true;
        }
    }

    /// <summary>Decodes a file SkiaSharp should not see directly (alpha, palette, non-JPEG/PNG formats) with
    /// ImageSharp into opaque RGB (alpha dropped, as PIL's <c>convert("RGB")</c> does) and writes it as a 24-bit BMP
    /// that LoadImages then reads: the rest of the pipeline stays the same ML.NET code path. (Feeding an
    /// <see cref="MLImage"/> column instead fails in ML.NET 5.0.1 for any size not declared at compile time.)</summary>
    private static string ToTemporaryBmp(string path)
    {
        using var image = Image.Load<Rgb24>(path);
        string temp = Path.Combine(Path.GetTempPath(), $"vaccnn-pre-{Guid.NewGuid():N}.bmp");
        image.SaveAsBmp(temp, new BmpEncoder { BitsPerPixel = BmpBitsPerPixel.Pixel24 });
        return temp;
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException != null) e = e.InnerException;
        return e;
    }

    /// <summary>Resizes, crops and normalises one decoded image into slot <paramref name="position"/> of every
    /// spec's tensor.</summary>
    private void CopyOut(MLImage image, float[][] data, int position, (int W, int H) header)
    {
        if (image.Width != header.W || image.Height != header.H)
            throw new InvalidOperationException($"decoded {image.Width}x{image.Height}, header said {header.W}x{header.H}");
        int redOffset = image.PixelFormat switch
        {
            MLPixelFormat.Bgra32 => 2,
            MLPixelFormat.Rgba32 => 0,
            var f => throw new InvalidOperationException($"unexpected pixel format {f}"),
        };
        for (int r = 0; r < _recipes.Length; r++)
        {
            var recipe = _recipes[r];
            int per = recipe.PerImage;
            TriangleResampler.ResizeCropNormalize(image.Pixels, image.Width, image.Height, image.BitsPerPixel / 8, redOffset,
                recipe.Spec, recipe.Scale, recipe.Bias, data[r].AsSpan(position * per, per));
        }
    }

    private sealed class PathRow
    {
        public string ImagePath { get; set; } = "";

        public int Position { get; set; }
    }
}
