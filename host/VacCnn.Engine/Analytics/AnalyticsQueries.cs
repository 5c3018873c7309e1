using System.Diagnostics;
using VacCnn.Contracts;
using VacCnn.Engine.Data;
using VacCnn.Engine.Jobs;
using VacCnn.Engine.Store;

namespace VacCnn.Engine.Analytics;

// The answers of the analytics API (camelCase JSON), shared by the web endpoints and `vaccnn --json`.

/// <summary>A class.</summary>
public sealed record ClassView(int Index, string Wnid, string Name, string Root);

/// <summary>A model in the overview (accuracies as fractions; null when not evaluated).</summary>
public sealed record OverviewModelView(string Id, string Name, string Family, long? Parameters, long? Macs, double? Gflops,
    bool Evaluated, int? Images, double? Top1, double? Top5, IReadOnlyDictionary<string, double>? PerRoot, string? RunId, string Status);

/// <summary>All models with accuracy and complexity; roots in the paper's order.</summary>
public sealed record OverviewView(IReadOnlyList<string> Roots, IReadOnlyList<OverviewModelView> Models);

/// <summary>One class's accuracy for one model.</summary>
public sealed record ClassAccuracyView(int Index, string Wnid, string Name, string Root, int Images, double Top1, double Top5);

/// <summary>A root class's accuracy for one model.</summary>
public sealed record RootAccuracyView(string Root, int Images, double Top1, double Top5);

/// <summary>Per-class accuracy of a model, sorted by top-1 descending (ties: class index).</summary>
public sealed record ModelClassesView(string Model, string Status, string? RunId, IReadOnlyList<RootAccuracyView> Roots, IReadOnlyList<ClassAccuracyView> Classes);

/// <summary>A point of the distribution graph: a class, coloured by root, with the model's accuracy on it.</summary>
public sealed record GraphPointView(int Index, string Wnid, string Name, string Root, double Accuracy, double X, double Y);

/// <summary>
/// The class distribution graph of a model with its quality: the final KL, the neighbourhood preservation (k-NN recall
/// of Algorithm 1's nearest classes in the layout) and every t-SNE parameter; while pending, how far the background
/// computation has got.
/// </summary>
public sealed record GraphView(string Model, string Status, double? Kl, double Perplexity, int Seed, IReadOnlyList<GraphPointView> Points,
    IReadOnlyList<int> Missing, string? RunId, int? Images, double LearningRate, double EarlyExaggeration, int Iterations,
    double? Seconds, IReadOnlyList<double[]>? KlHistory, string Method = "barnes-hut", double Angle = 0.5, double? Recall = null, int RecallK = 0,
    bool Aligned = false, AnalyticsProgress? Progress = null, string Init = "random");

/// <summary>A class whose neighbourhood differs between two models (see <see cref="NeighbourhoodComparison"/>).</summary>
public sealed record NeighbourhoodChangeView(int Index, string Wnid, string Name, string Root, double Jaccard, double Moved,
    IReadOnlyList<ClassView> OnlyA, IReadOnlyList<ClassView> OnlyB, IReadOnlyList<ClassView> Shared);

/// <summary>
/// Two models' distribution graphs side by side (both aligned to the same reference, so a class sits in roughly the
/// same place) with the classes whose neighbourhoods differ most. Ready when both graphs are; pending (both graphs'
/// progress inside) or not-evaluated otherwise.
/// </summary>
public sealed record GraphComparisonView(string Status, GraphView A, GraphView B, int K, string Rule, double? MeanJaccard,
    int Compared, IReadOnlyList<NeighbourhoodChangeView> Classes, NeighbourhoodChangeView? Focus = null);

/// <summary>A class picked by a cross-model rule.</summary>
public sealed record ComparedClassView(int Index, string Wnid, string Name, string Root, string Kind, double Mean, double Range,
    IReadOnlyDictionary<string, double> Accuracies);

/// <summary>The range or average picker's answer.</summary>
public sealed record ComparisonView(string Rule, IReadOnlyList<string> Models, IReadOnlyList<string> NotEvaluated, IReadOnlyList<ComparedClassView> Classes);

/// <summary>A confusion of a class.</summary>
public sealed record ConfusionView(int Index, string Wnid, string Name, double Share, double MeanConfidence);

/// <summary>The classes a model confuses one class with.</summary>
public sealed record ConfusionsView(string Model, int Class, string Name, string Status, int Images, double? Accuracy, string Rule,
    IReadOnlyList<ConfusionView> Confusions);

/// <summary>How often pairs of models agree on the top-1 class (NaN-free: null when two models share no image).</summary>
public sealed record AgreementView(IReadOnlyList<string> Models, IReadOnlyList<string> NotEvaluated, double?[][] Matrix, int[][] Images);

/// <summary>A model as the analytics see it: its card (when loaded) and the run whose results are current for it.</summary>
public sealed record AnalyticsModel(string Id, ModelCard? Card, RunInfo? Run);

/// <summary>Status words of the API.</summary>
public static class AnalyticsStatus
{
    /// <summary>Results are there.</summary>
    public const string Ready = "ready";
    /// <summary>Evaluated; the result is being computed in the background.</summary>
    public const string Pending = "pending";
    /// <summary>No finished evaluation of the model on the current image set.</summary>
    public const string NotEvaluated = "not-evaluated";
}

/// <summary>
/// The analytics read model behind the JSON API and the CLI. Which run counts for a model is decided by the caller
/// (<paramref name="models"/>): the web host uses the run of the model's and image set's CURRENT fingerprints, the CLI
/// the latest finished run in a data folder. Everything here reads cached results; a graph or confusion table that
/// does not exist yet is answered "pending" and <paramref name="queue"/> is asked to compute it in the background.
/// </summary>
public sealed class AnalyticsQueries(ImageNetClasses classes, AnalyticsService analytics, Func<IReadOnlyList<AnalyticsModel>> models,
    Action<RunInfo, TsneOptions>? queue = null)
{
    /// <summary>The service results come from.</summary>
    public AnalyticsService Analytics => analytics;

    /// <summary>All classes.</summary>
    public IReadOnlyList<ClassView> Classes() => classes.Classes.Select(ToView).ToList();

    /// <summary>Models with complexity and accuracy.</summary>
    public OverviewView Overview()
    {
        var rows = models().Select(m =>
        {
            var card = m.Card;
            var acc = Done(m) is { } run ? analytics.Accuracy(run) : null;
            return new OverviewModelView(m.Id, card?.DisplayName ?? m.Id, card?.Family ?? "", card?.Parameters, card?.MultiplyAccumulates,
                card?.GigaFlops, acc != null, acc?.Overall.Images, acc?.Overall.Top1, acc?.Overall.Top5,
                acc == null ? null : RootClasses.Names.Where(acc.PerRoot.ContainsKey).ToDictionary(r => r, r => acc.PerRoot[r].Top1),
                m.Run?.RunId, acc != null ? "evaluated" : m.Run?.State ?? AnalyticsStatus.NotEvaluated);
        }).ToList();
        return new OverviewView(RootClasses.Names, rows);
    }

    /// <summary>Per-class (and per-root) accuracy of one model; only the leaves of <paramref name="root"/> when given.</summary>
    public ModelClassesView ModelClasses(string modelId, string? root = null)
    {
        var m = Model(modelId);
        if (root != null && !RootClasses.Names.Contains(root))
            throw new ArgumentException($"unknown root class '{root}' (one of: {string.Join(", ", RootClasses.Names)})");
        if (Done(m) is not { } run) return new ModelClassesView(m.Id, AnalyticsStatus.NotEvaluated, m.Run?.RunId, [], []);
        var acc = analytics.Accuracy(run);
        var roots = RootClasses.Names.Where(acc.PerRoot.ContainsKey)
            .Select(r => new RootAccuracyView(r, acc.PerRoot[r].Images, acc.PerRoot[r].Top1, acc.PerRoot[r].Top5)).ToList();
        var rows = acc.PerClass.Where(c => c.Index < classes.Classes.Count && (root == null || classes.Classes[c.Index].Root == root)).Select(c =>
        {
            var cls = classes.Classes[c.Index];
            return new ClassAccuracyView(c.Index, cls.Wnid, cls.Label, cls.Root, c.Images, c.Top1, c.Top5);
        }).ToList();
        return new ModelClassesView(m.Id, AnalyticsStatus.Ready, run.RunId, roots, rows);
    }

    /// <summary>The distribution graph of a model (default settings), or its status.</summary>
    public GraphView Graph(string modelId, TsneOptions? options = null) => GraphOf(modelId, options ?? TsneOptions.Default).View;

    /// <summary>
    /// Two models' graphs with the same t-SNE settings and the <paramref name="top"/> classes whose
    /// <paramref name="k"/> nearest classes differ most between them, plus the <paramref name="focus"/> class's own
    /// row wherever it ranks (the page highlights its neighbours). Either graph not computed yet is queued.
    /// </summary>
    public GraphComparisonView CompareGraphs(string modelA, string modelB, TsneOptions? options = null, int top = 20,
        int k = AnalyticsService.StoredNeighbours, int? focus = null)
    {
        if (focus is { } f && (f < 0 || f >= classes.Classes.Count)) throw new ArgumentException($"class must be 0..{classes.Classes.Count - 1}, got {f}");
        options ??= TsneOptions.Default;
        if (modelA == modelB) throw new ArgumentException("pick two different models to compare");
        if (top is < 1 or > 1000) throw new ArgumentException($"top must be 1..1000, got {top}");
        if (k < 1 || k > AnalyticsService.StoredNeighbours) throw new ArgumentException($"k must be 1..{AnalyticsService.StoredNeighbours}, got {k}");
        var a = GraphOf(modelA, options);
        var b = GraphOf(modelB, options);
        if (a.Result == null || b.Result == null)
        {
            string status = a.View.Status == AnalyticsStatus.NotEvaluated || b.View.Status == AnalyticsStatus.NotEvaluated
                ? AnalyticsStatus.NotEvaluated : AnalyticsStatus.Pending;
            return new GraphComparisonView(status, a.View, b.View, k, NeighbourhoodComparison.Rule, null, 0, []);
        }
        var changes = NeighbourhoodComparison.Compare(a.Result, b.Result, k);
        List<ClassView> Views(int[] indices) => indices.Select(i => ToView(classes.Classes[i])).ToList();
        NeighbourhoodChangeView Row(NeighbourhoodChange ch)
        {
            var cls = classes.Classes[ch.Index];
            return new NeighbourhoodChangeView(ch.Index, cls.Wnid, cls.Label, cls.Root, ch.Jaccard, ch.Moved, Views(ch.OnlyA), Views(ch.OnlyB), Views(ch.Shared));
        }
        var rows = changes.Take(top).Select(Row).ToList();
        var focused = focus is { } fi ? changes.FirstOrDefault(ch => ch.Index == fi) : null;
        double? mean = changes.Count == 0 ? null : changes.Average(ch => ch.Jaccard);
        return new GraphComparisonView(AnalyticsStatus.Ready, a.View, b.View, k, NeighbourhoodComparison.Rule, mean, changes.Count, rows,
            focused == null ? null : Row(focused));
    }

    // A model's graph view with the result behind it (null unless ready).
    private (GraphView View, ClassAnalytics? Result) GraphOf(string modelId, TsneOptions options)
    {
        var m = Model(modelId);
        GraphView Empty(string status, AnalyticsProgress? progress = null) => new(m.Id, status, null, options.Perplexity, options.Seed, [], [], m.Run?.RunId, null,
            options.LearningRate, options.EarlyExaggeration, options.Iterations, null, null, options.MethodName, options.Angle, Progress: progress, Init: options.InitName);
        if (Done(m) is not { } run) return (Empty(AnalyticsStatus.NotEvaluated), null);
        var result = Ready(run, options);
        if (result == null) return (Empty(AnalyticsStatus.Pending, analytics.Progress(run, options)), null);
        return (ToGraphView(result, analytics.Accuracy(run)), result);
    }

    /// <summary>The graph view of a computed result.</summary>
    public GraphView ToGraphView(ClassAnalytics result, ModelAccuracy accuracy)
    {
        var points = new List<GraphPointView>(result.Classes.Length);
        for (int k = 0; k < result.Classes.Length; k++)
        {
            int c = result.Classes[k];
            var cls = classes.Classes[c];
            points.Add(new GraphPointView(c, cls.Wnid, cls.Label, cls.Root, accuracy.ForClass(c)?.Top1 ?? 0, result.X[k], result.Y[k]));
        }
        var o = result.Tsne;
        return new GraphView(result.ModelId, AnalyticsStatus.Ready, result.Kl, result.Perplexity, o.Seed, points, result.Missing, result.RunId,
            result.Images, o.LearningRate, o.EarlyExaggeration, o.Iterations, result.ScanSeconds + result.TsneSeconds, result.KlHistory,
            o.MethodName, o.Angle, result.Recall, result.RecallK, result.Alignment != null, Init: o.InitName);
    }

    /// <summary>The 3 most diverging and 3 most parallel classes across models (all evaluated models when none given).</summary>
    public ComparisonView Range(IReadOnlyList<string>? modelIds) => Compare(modelIds, ClassComparison.RangeRule, ClassComparison.Range);

    /// <summary>The 3 classes with the highest and 3 with the lowest mean accuracy across models.</summary>
    public ComparisonView Average(IReadOnlyList<string>? modelIds) => Compare(modelIds, ClassComparison.AverageRule, ClassComparison.Average);

    /// <summary>The classes a model confuses class <paramref name="classIndex"/> with most.</summary>
    public ConfusionsView ConfusionsOf(string modelId, int classIndex, int top = 5)
    {
        var m = Model(modelId);
        if ((uint)classIndex >= (uint)classes.Classes.Count)
            throw new ArgumentException($"class must be 0..{classes.Classes.Count - 1}, got {classIndex}");
        if (top is < 1 or > AnalyticsService.StoredConfusions)
            throw new ArgumentException($"top must be 1..{AnalyticsService.StoredConfusions}, got {top}");
        string name = classes.Classes[classIndex].Label;
        if (Done(m) is not { } run) return new ConfusionsView(m.Id, classIndex, name, AnalyticsStatus.NotEvaluated, 0, null, Confusions.Rule, []);
        var result = Ready(run, TsneOptions.Default);
        var acc = analytics.Accuracy(run).ForClass(classIndex);
        if (result == null) return new ConfusionsView(m.Id, classIndex, name, AnalyticsStatus.Pending, acc?.Images ?? 0, acc?.Top1, Confusions.Rule, []);
        int pos = result.PositionOf(classIndex);
        var list = pos < 0 ? [] : result.Confusions[pos].Take(top).Select(c =>
        {
            var other = classes.Classes[c.Index];
            return new ConfusionView(c.Index, other.Wnid, other.Label, c.Share, c.MeanConfidence);
        }).ToList();
        return new ConfusionsView(m.Id, classIndex, name, AnalyticsStatus.Ready, acc?.Images ?? 0, acc?.Top1, Confusions.Rule, list);
    }

    /// <summary>Share of shared images on which two models' top-1 predictions agree, for every pair.</summary>
    public AgreementView Agreement(IReadOnlyList<string>? modelIds)
    {
        var (runs, notEvaluated) = Select(modelIds);
        if (runs.Select(r => r.ImageSetFingerprint).Distinct().Count() > 1)
            throw new ArgumentException("the models were evaluated on different image sets; agreement needs the same images");
        var (share, common) = ModelAgreement.Compute(runs.Select(analytics.Top1).ToList());
        var matrix = share.Select(row => row.Select(v => double.IsNaN(v) ? (double?)null : v).ToArray()).ToArray();
        return new AgreementView(runs.Select(r => r.ModelId).ToList(), notEvaluated, matrix, common);
    }

    private ComparisonView Compare(IReadOnlyList<string>? modelIds, string rule, Func<IReadOnlyList<ModelAccuracy>, int, IReadOnlyList<ComparedClass>> pick)
    {
        var (runs, notEvaluated) = Select(modelIds);
        var picked = pick(runs.Select(analytics.Accuracy).ToList(), 3);
        var rows = picked.Select(c =>
        {
            var cls = classes.Classes[c.Index];
            return new ComparedClassView(c.Index, cls.Wnid, cls.Label, cls.Root, c.Kind, c.Mean, c.Range, c.Accuracies);
        }).ToList();
        return new ComparisonView(rule, runs.Select(r => r.ModelId).ToList(), notEvaluated, rows);
    }

    // The finished runs of the requested models (all evaluated models when none is named); unknown ids are errors.
    private (List<RunInfo> Runs, List<string> NotEvaluated) Select(IReadOnlyList<string>? modelIds)
    {
        var all = models();
        List<AnalyticsModel> chosen;
        if (modelIds == null || modelIds.Count == 0) chosen = all.ToList();
        else
        {
            if (modelIds.Distinct(StringComparer.Ordinal).Count() != modelIds.Count) throw new ArgumentException("a model is listed twice");
            chosen = modelIds.Select(id => all.FirstOrDefault(m => m.Id == id) ?? throw new RequestRejectedException(RequestProblem.NotFound, $"unknown model '{id}'")).ToList();
        }
        var runs = new List<RunInfo>();
        var notEvaluated = new List<string>();
        foreach (var m in chosen)
            if (Done(m) is { } run) runs.Add(run);
            else notEvaluated.Add(m.Id);
        return (runs, notEvaluated);
    }

    private AnalyticsModel Model(string modelId) =>
        models().FirstOrDefault(m => m.Id == modelId) ?? throw new RequestRejectedException(RequestProblem.NotFound, $"unknown model '{modelId}'");

    private static RunInfo? Done(AnalyticsModel m) => m.Run is { State: RunStates.Done } run ? run : null;

    // The cached result, or null after asking for it to be computed.
    private ClassAnalytics? Ready(RunInfo run, TsneOptions options)
    {
        var result = analytics.Cached(run, options);
        if (result == null && queue != null && analytics.MarkRequested(run, options)) queue(run, options);
        return result;
    }

    private static ClassView ToView(ImageNetClass c) => new(c.Index, c.Wnid, c.Label, c.Root);
}

/// <summary>
/// The web host's notion of "current": for each loaded model, the run keyed by the model's fingerprint and the image
/// set's fingerprint as they are on disk now, so stale results are never shown. The image set's fingerprint needs a
/// listing of its folder, so it is reused for a few seconds.
/// </summary>
public sealed class CurrentRuns(VacCnnEngine engine, ImageSetProvider images, TimeSpan? reuse = null)
{
    private readonly TimeSpan _reuse = reuse ?? TimeSpan.FromSeconds(5);
    private readonly Lock _gate = new();
    private (string? Fingerprint, long Ticks) _imageSet = (null, long.MinValue);

    /// <summary>Fingerprint of the configured image set (null when it cannot be opened).</summary>
    public string? ImageSetFingerprint()
    {
        lock (_gate)
        {
            long now = Stopwatch.GetTimestamp();
            if (_imageSet.Ticks != long.MinValue && Stopwatch.GetElapsedTime(_imageSet.Ticks, now) < _reuse) return _imageSet.Fingerprint;
            string? fp;
            try { fp = images.Current().Fingerprint; }
            catch (Exception e) when (e is IOException or InvalidDataException or InvalidOperationException or UnauthorizedAccessException) { fp = null; }
            _imageSet = (fp, now);
            return fp;
        }
    }

    /// <summary>Every loaded model with its current run (null when never planned on the current image set).</summary>
    public IReadOnlyList<AnalyticsModel> Models()
    {
        string? set = ImageSetFingerprint();
        return engine.Models.Classifiers.Select(c =>
        {
            RunInfo? run = null;
            if (set != null)
            {
                try { run = engine.Store.GetRun(ResultStore.RunIdFor(engine.Evaluation.ModelFingerprint(c.Card.Id), set)); }
                catch (IOException) { run = null; } // model folder changed under us: treat as not evaluated
            }
            return new AnalyticsModel(c.Card.Id, c.Card, run);
        }).ToList();
    }
}
