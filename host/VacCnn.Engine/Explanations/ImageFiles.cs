using System.Collections.Concurrent;
using System.Security.Cryptography;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using VacCnn.Engine.Evaluation;

namespace VacCnn.Engine.Explanations;

/// <summary>
/// Reading image files that may be hostile: sizes are checked from the header (ImageSharp <c>Identify</c>) before
/// anything is decoded, with the same limits as <see cref="ImagePreprocessor"/>. Content fingerprints and sizes are
/// memoised per (path, length, modification time).
/// </summary>
public static class ImageFiles
{
    /// <summary>Largest accepted file, in bytes.</summary>
    public const long MaxFileBytes = 256L << 20;

    private static readonly ConcurrentDictionary<(string, long, long), string> Fingerprints = new();
    private static readonly ConcurrentDictionary<(string, long, long), (int, int)> Sizes = new();

    /// <summary>Width and height from the header; <see cref="InvalidDataException"/> with the reason when the file is
    /// not a usable image.</summary>
    public static (int Width, int Height) Size(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"image '{path}' not found", path);
        return Sizes.GetOrAdd((info.FullName, info.Length, info.LastWriteTimeUtc.Ticks), _ => Identify(info));
    }

    private static (int, int) Identify(FileInfo info)
    {
        if (info.Length == 0) throw new InvalidDataException($"image '{info.Name}' is empty (0 bytes)");
        if (info.Length > MaxFileBytes) throw new InvalidDataException($"image '{info.Name}' is larger than {MaxFileBytes >> 20} MB");
        IImageInfo? header;
        try { header = Image.Identify(info.FullName); }
        catch (Exception e) when (e is not (OutOfMemoryException or IOException or UnauthorizedAccessException))
        {
            // Decoders of hostile headers may throw anything: all of it means "not a usable image".
            throw new InvalidDataException($"'{info.Name}' is not a readable image: {e.Message}", e);
        }
        if (header is null) throw new InvalidDataException($"'{info.Name}' is not an image (unknown format)");
        if (header.Width < 1 || header.Height < 1) throw new InvalidDataException($"'{info.Name}' has an invalid size {header.Width}×{header.Height}");
        if (header.Width > ImagePreprocessor.MaxSide || header.Height > ImagePreprocessor.MaxSide
            || (long)header.Width * header.Height > ImagePreprocessor.MaxPixels)
            throw new InvalidDataException(
                $"image '{info.Name}' is too large: {header.Width}×{header.Height} (limit {ImagePreprocessor.MaxSide} px per side, {ImagePreprocessor.MaxPixels / 1_000_000} Mpx)");
        return (header.Width, header.Height);
    }

    /// <summary>Decodes to 8-bit RGB after checking the header (alpha is dropped).</summary>
    public static Image<Rgb24> LoadRgb(string path)
    {
        Size(path);
        try { return Image.Load<Rgb24>(path); }
        catch (Exception e) when (e is not (OutOfMemoryException or IOException or UnauthorizedAccessException))
        {
            throw new InvalidDataException($"cannot decode '{Path.GetFileName(path)}': {e.Message}", e);
        }
    }

    /// <summary>SHA-256 (hex) of the file's bytes: the same picture under another name shares cached results.</summary>
    public static string ContentFingerprint(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"image '{path}' not found", path);
        return Fingerprints.GetOrAdd((info.FullName, info.Length, info.LastWriteTimeUtc.Ticks), _ =>
        {
            using var fs = File.OpenRead(info.FullName);
            return Convert.ToHexStringLower(SHA256.HashData(fs));
        });
    }

    /// <summary>A JPEG thumbnail whose longer side is <paramref name="size"/> pixels (never enlarged).</summary>
    public static byte[] Thumbnail(string path, int size)
    {
        using var image = LoadRgb(path);
        if (image.Width > size || image.Height > size)
            image.Mutate(x => x.Resize(new ResizeOptions { Size = new Size(size, size), Mode = ResizeMode.Max }));
        using var ms = new MemoryStream();
        image.SaveAsJpeg(ms, new JpegEncoder { Quality = 85 });
        return ms.ToArray();
    }
}
