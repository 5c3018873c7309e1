namespace VacCnn.Engine.Data;

/// <summary>One ImageNet-1k class.</summary>
/// <param name="Index">Output index (position of the wnid in the sorted list of wnids).</param>
/// <param name="Wnid">WordNet id, e.g. n01440764.</param>
/// <param name="Synonyms">WordNet synset words, e.g. "tench, Tinca tinca".</param>
/// <param name="Label">Short human-readable label, e.g. "tench".</param>
/// <param name="Root">The paper's root class (see <see cref="RootClasses"/>).</param>
public sealed record ImageNetClass(int Index, string Wnid, string Synonyms, string Label, string Root);

/// <summary>
/// The paper's 8 root classes, in priority order: a class belongs to the FIRST root in this order that is among its
/// WordNet ancestors (any path); "MISC" when none is.
/// </summary>
public static class RootClasses
{
    /// <summary>(name, wnid) in priority order; MISC has no wnid.</summary>
    public static readonly IReadOnlyList<(string Name, string? Wnid)> All =
    [
        ("animal", "n00015388"), ("artifact", "n00021939"), ("natural object", "n00019128"),
        ("geological formation", "n09287968"), ("person", "n00007846"), ("plant", "n00017222"),
        ("fungus", "n12992868"), ("MISC", null),
    ];

    /// <summary>Root names in display order.</summary>
    public static IReadOnlyList<string> Names { get; } = All.Select(r => r.Name).ToList();
}

/// <summary>The 1000 ImageNet classes with names and root classes, loaded from the ImageNet folder.</summary>
public sealed partial class ImageNetClasses
{
    /// <summary>Classes by index.</summary>
    public required IReadOnlyList<ImageNetClass> Classes { get; init; }

    /// <summary>The class with this wnid, or null.</summary>
    public ImageNetClass? ByWnid(string wnid) =>
        (_byWnid ??= Classes.ToDictionary(c => c.Wnid, StringComparer.Ordinal)).GetValueOrDefault(wnid);

    private Dictionary<string, ImageNetClass>? _byWnid;
}

public sealed partial class ImageNetClasses
{
    /// <summary>
    /// Loads <c>imagenet_class_index.tsv</c> (index, wnid, synset words, simple label) and assigns root classes
    /// from <c>wordnet.is_a.txt</c> (parent child per line). Throws <see cref="InvalidDataException"/> naming the
    /// file and line when a file is missing or malformed.
    /// </summary>
    public static ImageNetClasses Load(string imageNetFolder) => throw new NotImplementedException("helper B");
}
