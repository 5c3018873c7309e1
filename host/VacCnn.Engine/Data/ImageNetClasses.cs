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

    /// <summary>WordNet is-a parents of each node (child wnid → parent wnids); empty when not loaded from files.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Parents { get; init; } = new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>The class with this wnid, or null.</summary>
    public ImageNetClass? ByWnid(string wnid) =>
        (_byWnid ??= Classes.ToDictionary(c => c.Wnid, StringComparer.Ordinal)).GetValueOrDefault(wnid);

    private Dictionary<string, ImageNetClass>? _byWnid;
}

public sealed partial class ImageNetClasses
{
    /// <summary>File name of the class index (header row, then index, wnid, synset words, simple label; tab-separated).</summary>
    public const string ClassIndexFile = "imagenet_class_index.tsv";

    /// <summary>File name of the WordNet is-a list (one "parent child" pair of wnids per line).</summary>
    public const string IsAFile = "wordnet.is_a.txt";

    /// <summary>
    /// Loads <c>imagenet_class_index.tsv</c> (index, wnid, synset words, simple label) and assigns root classes
    /// from <c>wordnet.is_a.txt</c> (parent child per line). Throws <see cref="FileNotFoundException"/> naming the
    /// file when one is missing and <see cref="InvalidDataException"/> naming the file and line when one is malformed.
    /// </summary>
    public static ImageNetClasses Load(string imageNetFolder)
    {
        string indexPath = Path.GetFullPath(Path.Combine(imageNetFolder, ClassIndexFile));
        string isAPath = Path.GetFullPath(Path.Combine(imageNetFolder, IsAFile));
        var rows = ReadClassIndex(indexPath);
        var parents = ReadIsA(isAPath);
        var roots = new RootResolver(parents, isAPath);
        var classes = rows.Select(r => new ImageNetClass(r.Index, r.Wnid, r.Synonyms, r.Label, roots.RootOf(r.Wnid))).ToList();
        return new ImageNetClasses
        {
            Classes = classes,
            Parents = parents.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<string>)kv.Value.Select(p => p.Parent).ToList(), StringComparer.Ordinal),
        };
    }

    /// <summary>True when <paramref name="s"/> looks like a WordNet noun id: 'n' and 8 digits.</summary>
    public static bool IsWnid(ReadOnlySpan<char> s)
    {
        if (s.Length != 9 || s[0] != 'n') return false;
        foreach (char c in s[1..]) if (c is < '0' or > '9') return false;
        return true;
    }

    private static IEnumerable<string> ReadLines(string path) =>
        File.Exists(path) ? File.ReadLines(path) : throw new FileNotFoundException($"ImageNet file not found: {path}", path);

    private static List<(int Index, string Wnid, string Synonyms, string Label)> ReadClassIndex(string path)
    {
        var rows = new List<(int, string, string, string)>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        int lineNo = 0;
        foreach (string raw in ReadLines(path))
        {
            lineNo++;
            string line = raw.TrimEnd('\r');
            if (line.Length == 0) continue;
            string[] f = line.Split('\t');
            // The header is optional; recognise it by its first column.
            if (rows.Count == 0 && f[0].Trim().Equals("index", StringComparison.OrdinalIgnoreCase)) continue;
            if (f.Length != 4)
                throw Malformed(path, lineNo, $"expected 4 tab-separated columns (index, wnid, synset words, label), found {f.Length}");
            if (!int.TryParse(f[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int index))
                throw Malformed(path, lineNo, $"index '{f[0]}' is not a non-negative integer");
            // Indices are output positions of the models: they must be 0, 1, 2, ... in file order.
            if (index != rows.Count)
                throw Malformed(path, lineNo, $"index {index} out of sequence (expected {rows.Count})");
            string wnid = f[1].Trim();
            if (!IsWnid(wnid)) throw Malformed(path, lineNo, $"'{f[1]}' is not a wnid (n + 8 digits)");
            if (seen.TryGetValue(wnid, out int first))
                throw Malformed(path, lineNo, $"wnid {wnid} already used on line {first}");
            seen[wnid] = lineNo;
            rows.Add((index, wnid, f[2].Trim(), f[3].Trim()));
        }
        if (rows.Count == 0) throw new InvalidDataException($"{path}: no classes");
        return rows;
    }

    private static Dictionary<string, List<(string Parent, int Line)>> ReadIsA(string path)
    {
        var parents = new Dictionary<string, List<(string, int)>>(StringComparer.Ordinal);
        int lineNo = 0;
        foreach (string raw in ReadLines(path))
        {
            lineNo++;
            var line = raw.AsSpan().Trim();
            if (line.IsEmpty) continue;
            int sep = line.IndexOfAny(' ', '\t');
            if (sep < 0) throw Malformed(path, lineNo, "expected 'parent child' (two wnids)");
            var parent = line[..sep];
            var child = line[(sep + 1)..].TrimStart();
            if (!IsWnid(parent) || !IsWnid(child))
                throw Malformed(path, lineNo, $"expected 'parent child' (two wnids), found '{line.ToString()}'");
            string c = child.ToString();
            if (!parents.TryGetValue(c, out var list)) parents[c] = list = new List<(string, int)>(1);
            list.Add((parent.ToString(), lineNo));
        }
        return parents;
    }

    private static InvalidDataException Malformed(string path, int line, string what) =>
        new($"{path}, line {line}: {what}");

    /// <summary>
    /// Which of the 7 named roots are ancestors of a node, as a bit mask (bit i = RootClasses.All[i]), memoised per
    /// node so that shared upper parts of the DAG are walked once.
    /// </summary>
    private sealed class RootResolver(Dictionary<string, List<(string Parent, int Line)>> parents, string path)
    {
        private readonly Dictionary<string, int> _selfBit = RootClasses.All
            .Select((r, i) => (r.Wnid, i)).Where(x => x.Wnid != null).ToDictionary(x => x.Wnid!, x => 1 << x.i, StringComparer.Ordinal);

        // Mask of roots among the node itself and its ancestors.
        private readonly Dictionary<string, int> _memo = new(StringComparer.Ordinal);

        public string RootOf(string wnid)
        {
            // Ancestors only, but a class that IS a root wnid counts as that root (defensive; not the case in ImageNet-1k).
            int mask = _selfBit.GetValueOrDefault(wnid);
            if (parents.TryGetValue(wnid, out var ps))
                foreach (var (p, _) in ps) mask |= SelfAndAncestors(p);
            for (int i = 0; i < RootClasses.All.Count; i++)
                if ((mask & (1 << i)) != 0) return RootClasses.All[i].Name;
            return "MISC";
        }

        // Iterative post-order DFS (the graph can be deep; recursion could overflow on hostile input).
        private int SelfAndAncestors(string start)
        {
            if (_memo.TryGetValue(start, out int known)) return known;
            var onStack = new HashSet<string>(StringComparer.Ordinal) { start };
            var stack = new Stack<(string Node, int Next)>();
            stack.Push((start, 0));
            while (stack.Count > 0)
            {
                var (node, next) = stack.Pop();
                var ps = parents.GetValueOrDefault(node);
                if (ps != null && next < ps.Count)
                {
                    stack.Push((node, next + 1));
                    var (p, line) = ps[next];
                    if (_memo.ContainsKey(p)) continue;
                    if (!onStack.Add(p))
                        throw new InvalidDataException($"{path}, line {line}: cycle in the is-a graph ({p} is its own ancestor)");
                    stack.Push((p, 0));
                    continue;
                }
                int mask = _selfBit.GetValueOrDefault(node);
                if (ps != null) foreach (var (p, _) in ps) mask |= _memo[p];
                _memo[node] = mask;
                onStack.Remove(node);
            }
            return _memo[start];
        }
    }
}
