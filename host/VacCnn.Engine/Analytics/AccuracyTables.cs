using System.Globalization;
using MathNet.Numerics.Statistics;
using VacCnn.Engine.Evaluation;
using VacCnn.Engine.Store;

namespace VacCnn.Engine.Analytics;

/// <summary>Accuracy of one model on one class.</summary>
public sealed record ClassAccuracy(int Index, int Images, double Top1, double Top5);

/// <summary>Accuracy of one group of images (all images, or one root class).</summary>
public sealed record GroupAccuracy(int Images, double Top1, double Top5);

/// <summary>
/// The accuracy tables of one model's run (paper §5.1): overall, per root class (the radar), and per leaf class sorted
/// by top-1 descending (ties: class index ascending). Built from the rows the evaluation stored
/// (<see cref="AccuracyCalculator"/>, ML.NET's evaluator).
/// </summary>
public sealed record ModelAccuracy(string ModelId, string RunId, GroupAccuracy Overall,
    IReadOnlyDictionary<string, GroupAccuracy> PerRoot, IReadOnlyList<ClassAccuracy> PerClass)
{
    private Dictionary<int, ClassAccuracy>? _byIndex;

    /// <summary>The accuracy on class <paramref name="index"/>, or null when the run has no image of it.</summary>
    public ClassAccuracy? ForClass(int index) => (_byIndex ??= PerClass.ToDictionary(c => c.Index)).GetValueOrDefault(index);

    /// <summary>Builds the tables from stored accuracy rows.</summary>
    public static ModelAccuracy FromRows(string modelId, string runId, IEnumerable<AccuracyRow> rows)
    {
        GroupAccuracy overall = new(0, 0, 0);
        var perRoot = new Dictionary<string, GroupAccuracy>(StringComparer.Ordinal);
        var perClass = new List<ClassAccuracy>();
        foreach (var r in rows)
        {
            switch (r.Scope)
            {
                case AccuracyCalculator.Overall: overall = new GroupAccuracy(r.Count, r.Top1, r.Top5); break;
                case AccuracyCalculator.Root: perRoot[r.Key] = new GroupAccuracy(r.Count, r.Top1, r.Top5); break;
                case AccuracyCalculator.Leaf:
                    perClass.Add(new ClassAccuracy(int.Parse(r.Key, NumberStyles.None, CultureInfo.InvariantCulture), r.Count, r.Top1, r.Top5));
                    break;
            }
        }
        var sorted = perClass.OrderByDescending(c => c.Top1).ThenBy(c => c.Index).ToList();
        return new ModelAccuracy(modelId, runId, overall, perRoot, sorted);
    }
}

/// <summary>A class picked by a cross-model rule, with every model's top-1 accuracy on it.</summary>
/// <param name="Index">Class index.</param>
/// <param name="Kind">"diverging", "parallel", "highest" or "lowest".</param>
/// <param name="Mean">Mean top-1 accuracy over the models.</param>
/// <param name="Range">Largest minus smallest top-1 accuracy over the models.</param>
/// <param name="StdDev">Population standard deviation of the accuracies.</param>
/// <param name="Accuracies">Top-1 accuracy per model id.</param>
public sealed record ComparedClass(int Index, string Kind, double Mean, double Range, double StdDev, IReadOnlyDictionary<string, double> Accuracies);

/// <summary>
/// The paper's cross-model class pickers (§5.1, "Range of class accuracy" and "Average of class accuracy"), over the
/// classes that have images in EVERY compared model's run, with top-1 accuracy a_m(c) of model m on class c.
/// </summary>
public static class ClassComparison
{
    /// <summary>How <see cref="Range"/> picks (shown by the API and the README).</summary>
    public const string RangeRule =
        "range(c) = max over models of top-1 accuracy on c − min over models. Diverging: the 3 classes with the largest range " +
        "(ties: larger population standard deviation, then lower class index). Parallel: of the remaining classes, the 3 with " +
        "the smallest range (ties: higher mean accuracy, then lower class index). Only classes with images in every model's run count; statistics are compared to 1e-9.";

    /// <summary>How <see cref="Average"/> picks.</summary>
    public const string AverageRule =
        "mean(c) = mean over models of top-1 accuracy on c. Highest: the 3 classes with the largest mean (ties: smaller range, " +
        "then lower class index). Lowest: of the remaining classes, the 3 with the smallest mean (ties: smaller range, then lower " +
        "class index). Only classes with images in every model's run count; statistics are compared to 1e-9.";

    /// <summary>The 3 most diverging and 3 most parallel classes (fewer when fewer classes are shared).</summary>
    public static IReadOnlyList<ComparedClass> Range(IReadOnlyList<ModelAccuracy> models, int perKind = 3)
    {
        var stats = Shared(models);
        var diverging = stats.OrderByDescending(s => Key(s.Range)).ThenByDescending(s => Key(s.StdDev)).ThenBy(s => s.Index).Take(perKind).ToList();
        var taken = diverging.Select(s => s.Index).ToHashSet();
        var parallel = stats.Where(s => !taken.Contains(s.Index))
            .OrderBy(s => Key(s.Range)).ThenByDescending(s => Key(s.Mean)).ThenBy(s => s.Index).Take(perKind);
        return [.. diverging.Select(s => s with { Kind = "diverging" }), .. parallel.Select(s => s with { Kind = "parallel" })];
    }

    /// <summary>The 3 classes with the highest and the 3 with the lowest mean accuracy.</summary>
    public static IReadOnlyList<ComparedClass> Average(IReadOnlyList<ModelAccuracy> models, int perKind = 3)
    {
        var stats = Shared(models);
        var highest = stats.OrderByDescending(s => Key(s.Mean)).ThenBy(s => Key(s.Range)).ThenBy(s => s.Index).Take(perKind).ToList();
        var taken = highest.Select(s => s.Index).ToHashSet();
        var lowest = stats.Where(s => !taken.Contains(s.Index))
            .OrderBy(s => Key(s.Mean)).ThenBy(s => Key(s.Range)).ThenBy(s => s.Index).Take(perKind);
        return [.. highest.Select(s => s with { Kind = "highest" }), .. lowest.Select(s => s with { Kind = "lowest" })];
    }

    // Statistics are compared at 1e-9: the same accuracies in another model order must tie, whatever the rounding.
    private static double Key(double v) => Math.Round(v, 9);

    /// <summary>Per shared class: every model's accuracy and their mean, range and standard deviation.</summary>
    public static IReadOnlyList<ComparedClass> Shared(IReadOnlyList<ModelAccuracy> models)
    {
        if (models.Count == 0) return [];
        var ids = models.Select(m => m.ModelId).ToList();
        if (ids.Distinct(StringComparer.Ordinal).Count() != ids.Count) throw new ArgumentException("a model is listed twice");
        var result = new List<ComparedClass>();
        foreach (var c in models[0].PerClass.Select(c => c.Index).Order())
        {
            var acc = new double[models.Count];
            bool everywhere = true;
            for (int m = 0; m < models.Count && everywhere; m++)
            {
                var ca = models[m].ForClass(c);
                if (ca == null || ca.Images == 0) everywhere = false;
                else acc[m] = ca.Top1;
            }
            if (!everywhere) continue;
            var byModel = new Dictionary<string, double>(StringComparer.Ordinal);
            for (int m = 0; m < models.Count; m++) byModel[ids[m]] = acc[m];
            result.Add(new ComparedClass(c, "", acc.Mean(), acc.Maximum() - acc.Minimum(), acc.PopulationStandardDeviation(), byModel));
        }
        return result;
    }
}

/// <summary>A class a model confuses another one with.</summary>
/// <param name="Index">The other class.</param>
/// <param name="Share">Share of the true class's images whose top-1 prediction is this class.</param>
/// <param name="MeanConfidence">Mean probability the model gives this class on the true class's images.</param>
public sealed record Confusion(int Index, double Share, double MeanConfidence);

/// <summary>Per class, the other classes a model confuses it with most, from one pass over its confidence matrix.</summary>
public static class Confusions
{
    /// <summary>How the confusions are ordered.</summary>
    public const string Rule = "other classes ordered by share of the class's images predicted (top-1) as them, then by mean " +
                               "probability given to them on the class's images, then by lower class index";

    /// <summary>The <paramref name="top"/> strongest confusions of class <paramref name="r"/> (empty when r has no images).</summary>
    public static IReadOnlyList<Confusion> Of(ClassSums sums, int r, int top)
    {
        int n = sums.ClassCount, count = sums.ImagesPerClass[r];
        if (count == 0) return [];
        return Enumerable.Range(0, n).Where(j => j != r)
            .Select(j => new Confusion(j, sums.Top1Counts[(long)r * n + j] / (double)count, sums.ConfidenceSums[(long)r * n + j] / (double)count))
            .OrderByDescending(c => c.Share).ThenByDescending(c => c.MeanConfidence).ThenBy(c => c.Index)
            .Take(top).ToList();
    }
}

/// <summary>Top-1 prediction per evaluated image of a run, by image position in the image set (ascending).</summary>
public sealed record Top1ByImage(int[] ImageIndex, int[] Top1)
{
    /// <summary>From a run's stored predictions.</summary>
    public static Top1ByImage FromPredictions(IReadOnlyList<PredictionRow> predictions)
    {
        var ordered = predictions.OrderBy(p => p.ImageIndex).ToList();
        return new Top1ByImage(ordered.Select(p => p.ImageIndex).ToArray(), ordered.Select(p => p.Top5.Length > 0 ? p.Top5[0] : -1).ToArray());
    }
}

/// <summary>How often two models predict the same class.</summary>
public static class ModelAgreement
{
    /// <summary>
    /// [a, b] = share of the images evaluated by both models a and b on which their top-1 predictions agree (1 on the
    /// diagonal; NaN when they share no image); <c>Common</c> holds the number of shared images.
    /// </summary>
    public static (double[][] Share, int[][] Common) Compute(IReadOnlyList<Top1ByImage> models)
    {
        int k = models.Count;
        var share = new double[k][];
        var common = new int[k][];
        for (int a = 0; a < k; a++) { share[a] = new double[k]; common[a] = new int[k]; }
        for (int a = 0; a < k; a++)
            for (int b = a; b < k; b++)
            {
                var (same, both) = Count(models[a], models[b]);
                common[a][b] = common[b][a] = both;
                share[a][b] = share[b][a] = a == b ? 1 : both == 0 ? double.NaN : (double)same / both;
            }
        return (share, common);
    }

    // Merge of two ascending image-index lists.
    private static (int Same, int Both) Count(Top1ByImage a, Top1ByImage b)
    {
        int i = 0, j = 0, same = 0, both = 0;
        while (i < a.ImageIndex.Length && j < b.ImageIndex.Length)
        {
            int ia = a.ImageIndex[i], ib = b.ImageIndex[j];
            if (ia < ib) i++;
            else if (ib < ia) j++;
            else { both++; if (a.Top1[i] == b.Top1[j]) same++; i++; j++; }
        }
        return (same, both);
    }
}
