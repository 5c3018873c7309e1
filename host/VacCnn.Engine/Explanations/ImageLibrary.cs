using VacCnn.Engine.Data;
using VacCnn.Engine.Store;

namespace VacCnn.Engine.Explanations;

/// <summary>One image of the configured image set as offered to clients.</summary>
/// <param name="Id">Stable id: the path relative to the images root, '/' separated.</param>
/// <param name="File">File name.</param>
/// <param name="Wnid">Ground-truth wnid.</param>
/// <param name="ClassIndex">Ground-truth class index.</param>
/// <param name="Width">Width in pixels (0 when the header cannot be read).</param>
/// <param name="Height">Height in pixels.</param>
public sealed record ImageEntry(string Id, string File, string Wnid, int ClassIndex, int Width, int Height);

/// <summary>
/// The configured images root seen from the outside: image ids resolve only to regular image files inside the root
/// (no '..', no absolute paths, no symbolic links that lead out of it), the labelled list is re-read at most every
/// few seconds, and thumbnails are cached on disk. Ids of users' uploads (<see cref="UploadStore.IdPrefix"/>) resolve
/// in the upload store; they have no ground truth.
/// </summary>
public sealed class ImageLibrary
{
    private static readonly TimeSpan RefreshAfter = TimeSpan.FromSeconds(10);
    private readonly ImageNetClasses _classes;
    private readonly string? _thumbs;
    private readonly Lock _gate = new();
    private (ImageSet Set, DateTime ReadUtc, Dictionary<string, LabeledImage> ById)? _current;

    /// <summary>Creates the library; <paramref name="root"/> may be empty (no image set configured).</summary>
    /// <param name="root">Images root.</param>
    /// <param name="classes">Labels.</param>
    /// <param name="thumbnailFolder">Where thumbnails are cached; null = not cached.</param>
    /// <param name="uploads">Users' uploads, or null when none are kept.</param>
    public ImageLibrary(string? root, ImageNetClasses classes, string? thumbnailFolder, UploadStore? uploads = null)
    {
        _classes = classes;
        _thumbs = thumbnailFolder;
        Uploads = uploads;
        if (!string.IsNullOrWhiteSpace(root) && Directory.Exists(root))
        {
            Root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
            RealRoot = SafePaths.RealPath(Root);
        }
    }

    /// <summary>Users' uploads, or null.</summary>
    public UploadStore? Uploads { get; }

    /// <summary>Absolute root, or null when no image set is configured.</summary>
    public string? Root { get; }

    private string? RealRoot { get; }

    /// <summary>The labelled image set (re-read when older than a few seconds).</summary>
    public ImageSet Current() => Snapshot().Set;

    private (ImageSet Set, DateTime ReadUtc, Dictionary<string, LabeledImage> ById) Snapshot()
    {
        if (Root == null) throw new RequestRejectedException(RequestProblem.NotFound, "no image set is configured (VacCnn:Images)");
        lock (_gate)
        {
            if (_current is { } c && DateTime.UtcNow - c.ReadUtc < RefreshAfter) return c;
            var set = ImageSet.Open(Root, _classes);
            _current = (set, DateTime.UtcNow, set.Images.ToDictionary(i => i.RelativePath, StringComparer.Ordinal));
            return _current.Value;
        }
    }

    /// <summary>Labelled images, optionally of one class, with their sizes.</summary>
    public IReadOnlyList<ImageEntry> List(int? classIndex = null)
    {
        var rows = new List<ImageEntry>();
        foreach (var image in Current().Images)
        {
            if (classIndex is int c && image.ClassIndex != c) continue;
            if (Resolve(image.RelativePath) == null) continue; // e.g. a symlink that leaves the root
            int w = 0, h = 0;
            try { (w, h) = ImageFiles.Size(image.Path); }
            catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException) { }
            rows.Add(new ImageEntry(image.RelativePath, Path.GetFileName(image.Path), image.Wnid, image.ClassIndex, w, h));
        }
        return rows;
    }

    /// <summary>The ground truth of an image id, or null when it is not a labelled image of the set.</summary>
    public LabeledImage? Label(string id) => Root == null || UploadStore.IsUploadId(id) ? null : Snapshot().ById.GetValueOrDefault(id);

    /// <summary>
    /// The file an id names, or null when it does not name an image file inside the root: empty, absolute, with '.'
    /// or '..' segments, backslashes or NUL, a missing file, a non-image extension, or a path that leaves the root
    /// through a symbolic link.
    /// </summary>
    public string? Resolve(string? id)
    {
        if (UploadStore.IsUploadId(id)) return Uploads?.Resolve(id);
        if (Root == null || RealRoot == null || string.IsNullOrEmpty(id) || id.Length > 1024) return null;
        if (id.Contains('\0') || id.Contains('\\') || id.StartsWith('/') || Path.IsPathRooted(id)) return null;
        if (id.Split('/').Any(s => s is "" or "." or "..")) return null;
        if (!ImageSet.ImageExtensions.Contains(Path.GetExtension(id))) return null;
        string full = Path.GetFullPath(Path.Combine(Root, id));
        if (!full.StartsWith(Root + Path.DirectorySeparatorChar, StringComparison.Ordinal)) return null;
        string real;
        try { real = SafePaths.RealPath(full); }
        catch (IOException) { return null; }
        if (!real.StartsWith(RealRoot + Path.DirectorySeparatorChar, StringComparison.Ordinal)) return null;
        return File.Exists(real) ? real : null;
    }

    /// <summary>Thumbnail JPEG bytes (cached on disk by content and size).</summary>
    public byte[] Thumbnail(string path, int size)
    {
        if (_thumbs == null) return ImageFiles.Thumbnail(path, size);
        string file = Path.Combine(_thumbs, $"{ImageFiles.ContentFingerprint(path)}-{size}.jpg");
        try { if (File.Exists(file)) return File.ReadAllBytes(file); }
        catch (IOException) { } // being replaced by another writer: render it again
        var bytes = ImageFiles.Thumbnail(path, size);
        try { AtomicFile.Write(file, s => s.Write(bytes)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // a read-only data folder only costs speed
        return bytes;
    }
}

/// <summary>Path checks that see through symbolic links.</summary>
public static class SafePaths
{
    /// <summary>
    /// The canonical path (like POSIX <c>realpath</c>): every symbolic link on the way is followed, so a caller can
    /// check where a path really leads. Missing components are kept as they are.
    /// </summary>
    /// <exception cref="IOException">More than 40 links were followed (a loop).</exception>
    public static string RealPath(string path)
    {
        int links = 0;
        return Resolve(Path.GetFullPath(path), ref links);
    }

    private static string Resolve(string full, ref int links)
    {
        string root = Path.GetPathRoot(full) ?? "/";
        string current = root;
        foreach (string part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            string next = Path.Combine(current, part);
            string? target = new FileInfo(next).LinkTarget;
            if (target == null) { current = next; continue; }
            if (++links > 40) throw new IOException($"too many symbolic links resolving '{full}'");
            current = Resolve(Path.GetFullPath(Path.IsPathRooted(target) ? target : Path.Combine(current, target)), ref links);
        }
        return current;
    }
}
