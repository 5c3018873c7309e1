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
    /// <summary>Opens the image set at <paramref name="root"/>, labelling every image with <paramref name="classes"/>.
    /// Throws <see cref="DirectoryNotFoundException"/> / <see cref="InvalidDataException"/> with a clear message.</summary>
    public static ImageSet Open(string root, ImageNetClasses classes) => throw new NotImplementedException("helper B");
}
