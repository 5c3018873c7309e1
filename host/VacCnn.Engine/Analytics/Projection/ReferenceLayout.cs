using VacCnn.Engine.Data;

namespace VacCnn.Engine.Analytics;

/// <summary>
/// The layout every model's distribution graph is aligned to: a t-SNE of the classes' WordNet distances, which
/// depend on no model, so adding or re-evaluating a model never moves another model's graph. The distance of two
/// classes is the size of the symmetric difference of their ancestor sets (each including the class itself): the
/// length of the path between them through their lowest common ancestor in a tree, and still defined where WordNet
/// gives a class several parents.
/// </summary>
public static class ReferenceLayout
{
    /// <summary>Settings of the reference t-SNE (the paper's, a fixed seed).</summary>
    public static TsneOptions Options { get; } = TsneOptions.Default;

    /// <summary>[n, n] WordNet distances of all classes (row-major).</summary>
    public static float[] WordNetDistances(ImageNetClasses classes)
    {
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        int Id(string wnid) { if (!ids.TryGetValue(wnid, out int v)) ids[wnid] = v = ids.Count; return v; }
        var sets = classes.Classes.Select(c => Ancestors(c.Wnid, classes.Parents).Select(Id).Order().ToArray()).ToArray();
        int n = sets.Length;
        var d = new float[(long)n * n];
        Parallel.For(0, n, a =>
        {
            for (int b = 0; b < n; b++)
                d[(long)a * n + b] = a == b ? 0 : sets[a].Length + sets[b].Length - 2 * Common(sets[a], sets[b]);
        });
        return d;
    }

    /// <summary>The reference t-SNE of all classes: (x, y) per class index.</summary>
    public static (float[] X, float[] Y) Compute(ImageNetClasses classes)
    {
        var result = Tsne.Run(WordNetDistances(classes), classes.Classes.Count, Options);
        return (result.X, result.Y);
    }

    /// <summary>Rotates, reflects, scales and shifts a model's layout onto the reference over its classes (in place).</summary>
    /// <param name="classIndices">Class index of each point of the layout.</param>
    public static PlaneTransform Align(float[] x, float[] y, int[] classIndices, float[] refX, float[] refY)
    {
        var rx = classIndices.Select(c => refX[c]).ToArray();
        var ry = classIndices.Select(c => refY[c]).ToArray();
        var transform = Procrustes.Fit(x, y, rx, ry);
        transform.Apply(x, y);
        return transform;
    }

    private static HashSet<string> Ancestors(string wnid, IReadOnlyDictionary<string, IReadOnlyList<string>> parents)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal) { wnid };
        var stack = new Stack<string>();
        stack.Push(wnid);
        while (stack.Count > 0)
            if (parents.TryGetValue(stack.Pop(), out var ps))
                foreach (string p in ps)
                    if (seen.Add(p)) stack.Push(p);
        return seen;
    }

    private static int Common(int[] a, int[] b)
    {
        int i = 0, j = 0, c = 0;
        while (i < a.Length && j < b.Length)
        {
            if (a[i] == b[j]) { c++; i++; j++; }
            else if (a[i] < b[j]) i++;
            else j++;
        }
        return c;
    }
}
