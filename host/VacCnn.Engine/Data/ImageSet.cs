using System.Security.Cryptography;
using System.Text;

namespace VacCnn.Engine.Data;

/// <summary>One labelled image of an image set.</summary>
/// <param name="Path">Absolute path of the file.</param>
/// <param name="RelativePath">Path relative to the image set root ('/' separators); the stable key in results.</param>
/// <param name="Wnid">Ground-truth WordNet id.</param>
/// <param name="ClassIndex">Ground-truth class index.</param>
public sealed record LabeledImage(string Path, string RelativePath, string Wnid, int ClassIndex);

/// <summary>A file of the image set that cannot be used, and why.</summary>
/// <param name="RelativePath">Path relative to the root.</param>
/// <param name="Reason">Human-readable reason (e.g. "zero bytes", "no label", "not an image: ...").</param>
public sealed record SkippedImage(string RelativePath, string Reason);

/// <summary>
/// A labelled image set, in one of three layouts: ImageFolder (<c>root/wnid/*.JPEG</c>), a flat folder whose file
/// names start with the wnid (<c>n01440764_tench.JPEG</c>), or any folder with a <c>labels.csv</c> (path,wnid).
/// Images are ordered by relative path (ordinal) so that indices are stable.
/// </summary>
public sealed partial class ImageSet
{
    /// <summary>Absolute root folder.</summary>
    public required string Root { get; init; }

    /// <summary>Labelled images in stable order.</summary>
    public required IReadOnlyList<LabeledImage> Images { get; init; }

    /// <summary>Files found that cannot be labelled (decoding problems are found later, during evaluation).</summary>
    public required IReadOnlyList<SkippedImage> Unlabelled { get; init; }

    /// <summary>Hash of the relative paths, labels, sizes and modification times: changes when the set changes.</summary>
    public required string Fingerprint { get; init; }

    /// <summary>Which layout was recognised: "imagefolder", "flat" or "labels.csv".</summary>
    public required string Layout { get; init; }
}

public sealed partial class ImageSet
{
    /// <summary>Name of the optional label file at the root.</summary>
    public const string LabelsFile = "labels.csv";

    /// <summary>File extensions treated as images (case-insensitive); other files are ignored, not reported.</summary>
    public static IReadOnlySet<string> ImageExtensions { get; } = new HashSet<string>(
        [".jpeg", ".jpg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"], StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Opens the image set at <paramref name="root"/>, labelling every image with <paramref name="classes"/>.
    /// Layout detection, first match wins:
    /// <list type="number">
    /// <item><c>root/labels.csv</c> exists: "labels.csv". Rows <c>path,wnid</c> (a header row is recognised when its
    /// second column is not a wnid; extra columns are ignored; double quotes allowed). Paths are relative to the root;
    /// rows whose path is absolute or leaves the root, names a missing file, or has an unknown wnid, and image files
    /// under the root that no row lists, go to <see cref="Unlabelled"/>.</item>
    /// <item>some top-level subfolder is named like a wnid: "imagefolder". Images anywhere below
    /// <c>root/&lt;wnid&gt;/</c> get that wnid; images elsewhere are unlabelled.</item>
    /// <item>otherwise "flat": every image below the root is labelled by the wnid its file name starts with
    /// (<c>n01440764_tench.JPEG</c> or <c>n01440764.JPEG</c>).</item>
    /// </list>
    /// Throws <see cref="DirectoryNotFoundException"/> when the root is missing and <see cref="InvalidDataException"/>
    /// (file and line) when labels.csv is malformed.
    /// </summary>
    public static ImageSet Open(string root, ImageNetClasses classes)
    {
        string full = Path.GetFullPath(root);
        if (!Directory.Exists(full)) throw new DirectoryNotFoundException($"image set folder not found: {full}");
        full = Path.TrimEndingDirectorySeparator(full);

        var images = new List<LabeledImage>();
        var unlabelled = new List<SkippedImage>();
        string layout;
        if (File.Exists(Path.Combine(full, LabelsFile)))
        {
            layout = "labels.csv";
            OpenLabelsCsv(full, classes, images, unlabelled);
        }
        else if (Directory.EnumerateDirectories(full).Any(d => ImageNetClasses.IsWnid(Path.GetFileName(d))))
        {
            layout = "imagefolder";
            foreach (var (abs, rel) in EnumerateImages(full))
            {
                int slash = rel.IndexOf('/');
                string folder = slash < 0 ? "" : rel[..slash];
                if (slash < 0) unlabelled.Add(new(rel, "not inside a class folder"));
                else Label(abs, rel, folder, $"no label: folder '{folder}' is not a wnid", classes, images, unlabelled);
            }
        }
        else
        {
            layout = "flat";
            foreach (var (abs, rel) in EnumerateImages(full))
            {
                string name = Path.GetFileName(abs);
                int us = name.IndexOf('_');
                string prefix = us >= 0 ? name[..us] : Path.GetFileNameWithoutExtension(name);
                Label(abs, rel, prefix, "no label: file name does not start with a wnid", classes, images, unlabelled);
            }
        }

        images.Sort((a, b) => string.CompareOrdinal(a.RelativePath, b.RelativePath));
        unlabelled.Sort((a, b) => string.CompareOrdinal(a.RelativePath, b.RelativePath));
        return new ImageSet
        {
            Root = full, Images = images, Unlabelled = unlabelled, Layout = layout, Fingerprint = ComputeFingerprint(images),
        };
    }

    private static void Label(string abs, string rel, string wnid, string noWnidReason, ImageNetClasses classes,
        List<LabeledImage> images, List<SkippedImage> unlabelled)
    {
        if (!ImageNetClasses.IsWnid(wnid)) unlabelled.Add(new(rel, noWnidReason));
        else if (classes.ByWnid(wnid) is not { } c) unlabelled.Add(new(rel, $"unknown wnid {wnid}"));
        else images.Add(new LabeledImage(abs, rel, c.Wnid, c.Index));
    }

    private static IEnumerable<(string Abs, string Rel)> EnumerateImages(string root) =>
        Directory.EnumerateFiles(root, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true })
            .Where(f => ImageExtensions.Contains(Path.GetExtension(f)))
            .Select(f => (f, Path.GetRelativePath(root, f).Replace(Path.DirectorySeparatorChar, '/')));

    private static void OpenLabelsCsv(string root, ImageNetClasses classes, List<LabeledImage> images, List<SkippedImage> unlabelled)
    {
        string csv = Path.Combine(root, LabelsFile);
        var listed = new Dictionary<string, int>(StringComparer.Ordinal); // normalised relative path -> line
        int lineNo = 0;
        bool firstRow = true;
        foreach (string raw in File.ReadLines(csv))
        {
            lineNo++;
            if (raw.Trim().Length == 0) continue;
            var f = SplitCsv(raw, csv, lineNo);
            if (f.Count < 2) throw new InvalidDataException($"{csv}, line {lineNo}: expected 'path,wnid', found {f.Count} column(s)");
            string path = f[0].Trim(), wnid = f[1].Trim();
            bool first = firstRow;
            firstRow = false;
            if (first && !ImageNetClasses.IsWnid(wnid)) continue; // optional header row, e.g. "path,wnid"
            if (path.Length == 0) { unlabelled.Add(new($"(line {lineNo})", "empty path in labels.csv")); continue; }

            // Paths must stay under the root: no absolute/rooted paths and no '..' escaping it.
            string shown = path.Replace('\\', '/');
            if (Path.IsPathRooted(path) || path.StartsWith('/') || path.StartsWith('\\'))
            { unlabelled.Add(new(shown, $"labels.csv line {lineNo}: absolute path not allowed")); continue; }
            string abs = Path.GetFullPath(Path.Combine(root, path.Replace('\\', Path.DirectorySeparatorChar)));
            if (!abs.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            { unlabelled.Add(new(shown, $"labels.csv line {lineNo}: path leaves the image set folder")); continue; }
            string rel = Path.GetRelativePath(root, abs).Replace(Path.DirectorySeparatorChar, '/');
            if (listed.TryGetValue(rel, out int firstLine))
            { unlabelled.Add(new(rel, $"labels.csv line {lineNo}: listed again (first on line {firstLine})")); continue; }
            listed[rel] = lineNo;
            if (!File.Exists(abs)) { unlabelled.Add(new(rel, $"labels.csv line {lineNo}: file not found")); continue; }
            Label(abs, rel, wnid, $"labels.csv line {lineNo}: '{wnid}' is not a wnid", classes, images, unlabelled);
        }
        foreach (var (abs, rel) in EnumerateImages(root))
            if (!listed.ContainsKey(rel)) unlabelled.Add(new(rel, "not listed in labels.csv"));
    }

    // Minimal RFC 4180 field splitter for one line (quoted fields may contain commas and doubled quotes).
    private static List<string> SplitCsv(string line, string file, int lineNo)
    {
        var fields = new List<string>();
        var sb = new StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { sb.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else sb.Append(c);
            }
            else if (c == '"' && sb.ToString().Trim().Length == 0) { sb.Clear(); quoted = true; }
            else if (c == ',') { fields.Add(sb.ToString()); sb.Clear(); }
            else sb.Append(c);
        }
        if (quoted) throw new InvalidDataException($"{file}, line {lineNo}: unterminated quoted field");
        fields.Add(sb.ToString().TrimEnd('\r'));
        return fields;
    }

    /// <summary>SHA-256 (lower-case hex) over relative path, wnid, length and last-write time (UTC ticks) of every
    /// labelled image, in order. Unlabelled files are not part of it.</summary>
    internal static string ComputeFingerprint(IEnumerable<LabeledImage> images)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var img in images)
        {
            var info = new FileInfo(img.Path);
            // NUL separators keep (a, bc) and (ab, c) apart; paths and wnids cannot contain NUL.
            sha.AppendData(Encoding.UTF8.GetBytes($"{img.RelativePath}\0{img.Wnid}\0{info.Length}\0{info.LastWriteTimeUtc.Ticks}\n"));
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
