using System.Security.Cryptography;
using System.Text.RegularExpressions;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using VacCnn.Engine.Evaluation;
using VacCnn.Engine.Store;

namespace VacCnn.Engine.Explanations;

/// <summary>A stored upload.</summary>
/// <param name="Id">Image id (<c>uploads/&lt;sha-256&gt;.&lt;ext&gt;</c>), usable wherever a sample image id is.</param>
/// <param name="Format">"jpeg", "png" or "webp", from the content.</param>
/// <param name="Width">Width in pixels.</param>
/// <param name="Height">Height in pixels.</param>
/// <param name="Bytes">File size.</param>
/// <param name="Existing">True when the same bytes were uploaded before (the same id is returned).</param>
public sealed record UploadedImage(string Id, string Format, int Width, int Height, long Bytes, bool Existing);

/// <summary>Limits of the upload store.</summary>
/// <param name="MaxFileBytes">Largest upload.</param>
/// <param name="MaxPixels">Most pixels (width × height) of an upload.</param>
/// <param name="MaxCount">Most uploads kept; past it the oldest are deleted.</param>
/// <param name="MaxTotalBytes">Most bytes kept; past it the oldest are deleted.</param>
public sealed record UploadLimits(long MaxFileBytes, long MaxPixels, int MaxCount, long MaxTotalBytes);

/// <summary>
/// Users' own photos, stored content-addressed as <c>&lt;folder&gt;/&lt;sha-256&gt;.&lt;ext&gt;</c>: the name comes from
/// the bytes and the sniffed type only, never from the client. Each upload is checked before it is stored: size,
/// type from the magic bytes, header dimensions, a complete file (JPEG end-of-image marker, PNG IEND chunk, WebP RIFF
/// length) and a full decode. Capped in count and bytes, oldest (least recently uploaded) first out.
/// </summary>
public sealed partial class UploadStore
{
    /// <summary>Prefix of upload ids.</summary>
    public const string IdPrefix = "uploads/";

    private readonly string _folder;
    private readonly Lock _gate = new();

    /// <summary>Creates the store over <paramref name="folder"/> (created on first upload).</summary>
    public UploadStore(string folder, UploadLimits limits)
    {
        _folder = Path.GetFullPath(folder);
        Limits = limits;
    }

    /// <summary>The limits.</summary>
    public UploadLimits Limits { get; }

    [GeneratedRegex("^uploads/([0-9a-f]{64})\\.(jpg|png|webp)$", RegexOptions.CultureInvariant)]
    private static partial Regex IdPattern();

    /// <summary>True when the id has the form of an upload id (whether or not it exists).</summary>
    public static bool IsUploadId(string? id) => id != null && IdPattern().IsMatch(id);

    /// <summary>The file of an upload id, or null when the id is malformed or the upload is gone.</summary>
    public string? Resolve(string? id)
    {
        if (!IsUploadId(id)) return null;
        string file = Path.Combine(_folder, id![IdPrefix.Length..]);
        return File.Exists(file) && new FileInfo(file).LinkTarget == null ? file : null;
    }

    /// <summary>Checks and stores an upload; <see cref="RequestRejectedException"/> says why one is refused.</summary>
    public UploadedImage Add(Stream content)
    {
        var bytes = ReadAtMost(content, Limits.MaxFileBytes);
        var (format, ext) = Sniff(bytes);
        var (width, height) = Check(bytes, format);

        string name = Convert.ToHexStringLower(SHA256.HashData(bytes)) + "." + ext;
        string file = Path.Combine(_folder, name);
        lock (_gate)
        {
            bool existing = File.Exists(file);
            if (existing) File.SetLastWriteTimeUtc(file, DateTime.UtcNow); // uploaded again: the newest again
            else AtomicFile.Write(file, s => s.Write(bytes));
            KeepWithinLimits(file);
            return new UploadedImage(IdPrefix + name, format, width, height, bytes.Length, existing);
        }
    }

    private static byte[] ReadAtMost(Stream content, long max)
    {
        using var ms = new MemoryStream();
        var buffer = new byte[81920];
        int n;
        while ((n = content.Read(buffer)) > 0)
        {
            if (ms.Length + n > max)
                throw new RequestRejectedException(RequestProblem.TooLarge, $"the file is larger than the {Megabytes(max)} allowed");
            ms.Write(buffer, 0, n);
        }
        if (ms.Length == 0) throw new RequestRejectedException(RequestProblem.Unprocessable, "the file is empty");
        return ms.ToArray();
    }

    private static string Megabytes(long bytes) => bytes >= 1 << 20 ? $"{bytes / (1 << 20)} MB" : $"{bytes} bytes";

    // By magic bytes only: a name or a Content-Type header says nothing about what the bytes are.
    private static (string Format, string Ext) Sniff(ReadOnlySpan<byte> b)
    {
        if (b.Length >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return ("jpeg", "jpg");
        if (b.StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A])) return ("png", "png");
        if (b.Length >= 12 && b[..4].SequenceEqual("RIFF"u8) && b[8..12].SequenceEqual("WEBP"u8)) return ("webp", "webp");
        throw new RequestRejectedException(RequestProblem.UnsupportedType, "only JPEG, PNG and WebP pictures can be uploaded (judged by the file's content)");
    }

    private (int Width, int Height) Check(byte[] bytes, string format)
    {
        if (!Complete(bytes, format))
            throw new RequestRejectedException(RequestProblem.Unprocessable, $"the {format.ToUpperInvariant()} file is truncated (its end is missing)");
        IImageInfo? info;
        try { info = Image.Identify(bytes); }
        catch (Exception e) when (e is not OutOfMemoryException) { throw Damaged(format, e); }
        if (info == null || info.Width < 1 || info.Height < 1) throw Damaged(format, null);
        if ((long)info.Width * info.Height > Limits.MaxPixels || info.Width > ImagePreprocessor.MaxSide || info.Height > ImagePreprocessor.MaxSide)
            throw new RequestRejectedException(RequestProblem.TooLarge,
                $"the picture is {info.Width}×{info.Height}; at most {Limits.MaxPixels / 1_000_000.0:0.#} megapixels and {ImagePreprocessor.MaxSide} px per side are accepted");
        // The header can lie about the data behind it: decode it all once.
        try { using var image = Image.Load<Rgb24>(bytes); }
        catch (Exception e) when (e is not OutOfMemoryException) { throw Damaged(format, e); }
        return (info.Width, info.Height);
    }

    private static RequestRejectedException Damaged(string format, Exception? e) =>
        new(RequestProblem.Unprocessable, $"the {format.ToUpperInvariant()} file cannot be decoded" + (e == null ? "" : $": {e.Message}"));

    /// <summary>Whether the file carries its format's end: decoders fill a cut-off picture with grey instead of failing.</summary>
    internal static bool Complete(ReadOnlySpan<byte> b, string format)
    {
        switch (format)
        {
            case "jpeg":
                // The end-of-image marker after the first start-of-scan (cameras may append data after it).
                int sos = b.IndexOf((ReadOnlySpan<byte>)[0xFF, 0xDA]);
                return sos > 0 && b[(sos + 2)..].LastIndexOf((ReadOnlySpan<byte>)[0xFF, 0xD9]) >= 0;
            case "png":
                // The last chunk: length 0, "IEND", CRC.
                int iend = b.LastIndexOf("IEND"u8);
                return iend >= 12 && b.Length >= iend + 8 && b[(iend - 4)..iend].SequenceEqual((ReadOnlySpan<byte>)[0, 0, 0, 0]);
            case "webp":
                long riff = BitConverter.ToUInt32(b[4..8]);
                return b.Length >= riff + 8;
            default:
                return false;
        }
    }

    // Newest first: keep uploads while both caps hold, delete the rest (never the one just stored: it is the newest).
    private void KeepWithinLimits(string keep)
    {
        var files = new DirectoryInfo(_folder).EnumerateFiles()
            .Where(f => IsUploadId(IdPrefix + f.Name))
            .OrderByDescending(f => f.FullName == keep)
            .ThenByDescending(f => f.LastWriteTimeUtc)
            .ThenBy(f => f.Name, StringComparer.Ordinal)
            .ToList();
        long total = 0;
        int count = 0;
        foreach (var f in files)
        {
            if (f.FullName == keep || (count < Limits.MaxCount && total + f.Length <= Limits.MaxTotalBytes))
            {
                count++;
                total += f.Length;
                continue;
            }
            try { f.Delete(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    /// <summary>Stored uploads (for tests and diagnostics).</summary>
    public int Count => Directory.Exists(_folder) ? new DirectoryInfo(_folder).EnumerateFiles().Count(f => IsUploadId(IdPrefix + f.Name)) : 0;
}
