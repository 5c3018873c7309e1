using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using VacCnn.Engine.Data;
using VacCnn.Engine.Store;

namespace VacCnn.Engine.Analytics;

/// <summary>The stored result of the class analytics of one run: Algorithm 1's projection and the confusion table.</summary>
/// <param name="Version">File format version.</param>
/// <param name="Key">Cache key (from the fingerprints and settings below).</param>
/// <param name="ModelId">The model.</param>
/// <param name="RunId">The run whose confidence matrix was used.</param>
/// <param name="ModelFingerprint">Model fingerprint of the run.</param>
/// <param name="ImageSetFingerprint">Image-set fingerprint of the run.</param>
/// <param name="Settings">The t-SNE settings (canonical text).</param>
/// <param name="Tsne">The t-SNE settings.</param>
/// <param name="Perplexity">Perplexity used (may be clamped for few classes).</param>
/// <param name="Kl">Final KL divergence of the embedding.</param>
/// <param name="KlHistory">KL every 50 iterations: [iteration, KL] pairs.</param>
/// <param name="Images">Images in the run.</param>
/// <param name="Classes">Classes with images, ascending (the points).</param>
/// <param name="X">First coordinate per point (aligned to the WordNet reference when <paramref name="Alignment"/> is set).</param>
/// <param name="Y">Second coordinate per point.</param>
/// <param name="Missing">Classes without images (no point).</param>
/// <param name="Confusions">Per class with images (same order as <paramref name="Classes"/>): its strongest confusions.</param>
/// <param name="ScanSeconds">Time of the pass over the confidence matrix.</param>
/// <param name="TsneSeconds">Time of the t-SNE.</param>
/// <param name="Recall">Neighbourhood preservation: k-NN recall of the distance matrix's neighbours in the layout.</param>
/// <param name="RecallK">The k of <paramref name="Recall"/>.</param>
/// <param name="Neighbours">Per point: the classes nearest to it by Algorithm 1's distance (class indices, nearest first).</param>
/// <param name="Alignment">The rotation/reflection, scale and shift applied to bring the layout onto the reference (null: none).</param>
public sealed record ClassAnalytics(
    int Version, string Key, string ModelId, string RunId, string ModelFingerprint, string ImageSetFingerprint, string Settings,
    TsneOptions Tsne, double Perplexity, double Kl, double[][] KlHistory, int Images, int[] Classes, float[] X, float[] Y,
    int[] Missing, Confusion[][] Confusions, double ScanSeconds, double TsneSeconds, double Recall, int RecallK, int[][] Neighbours,
    PlaneTransform? Alignment)
{
    private Dictionary<int, int>? _position;

    /// <summary>Position of class <paramref name="index"/> in <see cref="Classes"/>, or −1.</summary>
    public int PositionOf(int index) => (_position ??= Classes.Select((c, k) => (c, k)).ToDictionary(t => t.c, t => t.k)).GetValueOrDefault(index, -1);
}

/// <summary>How far a computation has got.</summary>
/// <param name="Fraction">0..1.</param>
/// <param name="Stage">What is being done, in words.</param>
/// <param name="UpdatedUtc">When this was reported.</param>
public sealed record AnalyticsProgress(double Fraction, string Stage, DateTime UpdatedUtc)
{
    /// <summary>When this process last wrote it to the shared folder (not serialised).</summary>
    [JsonIgnore] public DateTime WrittenUtc { get; init; }
}

/// <summary>
/// Computes and caches the class analytics of evaluation runs. A result is keyed by (model fingerprint, image-set
/// fingerprint, settings) and stored as one JSON file <c>analytics/&lt;key&gt;.json</c> under the data directory
/// (written atomically), so it survives restarts, is shared by processes using the same data directory, and is never
/// computed twice for the same inputs. Parsed results stay in memory, so serving one is a dictionary lookup.
/// Accuracy tables and per-image top-1 predictions come from the run records of the <see cref="ResultStore"/> and
/// are cached in memory by run (a finished run never changes).
/// </summary>
public sealed class AnalyticsService
{
    /// <summary>Version of the stored format and of the computation; bump to invalidate old files.</summary>
    public const int FormatVersion = 2;

    /// <summary>Nearest classes stored per class (for comparing two models' neighbourhoods).</summary>
    public const int StoredNeighbours = 10;

    /// <summary>How many confusions are stored per class.</summary>
    public const int StoredConfusions = 20;

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private readonly ResultStore _store;
    private readonly Action<string> _log;
    private readonly ImageNetClasses? _classes;
    private readonly Lazy<(float[] X, float[] Y)?> _reference;
    private readonly ConcurrentDictionary<string, AnalyticsProgress> _progress = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ClassAnalytics> _results = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, object> _locks = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTime> _requested = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string, DateTime), ModelAccuracy> _accuracy = new();
    private readonly ConcurrentDictionary<(string, DateTime), Top1ByImage> _top1 = new();
    private int _computations;

    /// <summary>Creates the service over <paramref name="store"/>; with <paramref name="classes"/>, graphs are aligned to the WordNet reference.</summary>
    public AnalyticsService(ResultStore store, Action<string>? log = null, ImageNetClasses? classes = null)
    {
        _store = store;
        _log = log ?? (_ => { });
        _classes = classes;
        _reference = new Lazy<(float[] X, float[] Y)?>(LoadReference, LazyThreadSafetyMode.ExecutionAndPublication);
        Directory = Path.Combine(store.DataDirectory, "analytics");
        System.IO.Directory.CreateDirectory(Directory);
        AtomicFile.CleanupStale(Directory);
    }

    /// <summary>Where result files are.</summary>
    public string Directory { get; }

    /// <summary>How many results this instance has computed (not loaded): lets tests prove that a re-run did nothing.</summary>
    public int Computations => Volatile.Read(ref _computations);

    /// <summary>The store the runs come from.</summary>
    public ResultStore Store => _store;

    /// <summary>The cache key of a run's analytics with these settings.</summary>
    public static string KeyFor(RunInfo run, TsneOptions options) =>
        Fingerprint.OfText($"class-analytics-v{FormatVersion}|{run.ModelFingerprint}|{run.ImageSetFingerprint}|{options.CacheText()}")[..32];

    /// <summary>Path of the result file for a key.</summary>
    public string PathFor(string key) => Path.Combine(Directory, key + ".json");

    /// <summary>The cached result for the run, or null when it has not been computed yet (never computes).</summary>
    public ClassAnalytics? Cached(RunInfo run, TsneOptions? options = null)
    {
        string key = KeyFor(run, options ?? TsneOptions.Default);
        if (_results.TryGetValue(key, out var hit)) return hit;
        var loaded = Load(key);
        if (loaded != null) _results[key] = loaded;
        return loaded;
    }

    /// <summary>
    /// Returns the run's analytics, computing and storing them unless they exist. Idempotent: with the same inputs a
    /// second call (or a second job) only reads the stored result. Concurrent calls in one process compute once.
    /// </summary>
    /// <param name="run">A finished run.</param>
    /// <param name="options">t-SNE settings (default: the paper's).</param>
    /// <param name="progress">Called with (fraction done, what is being done) while computing.</param>
    public ClassAnalytics GetOrCompute(RunInfo run, TsneOptions? options = null, Action<double, string>? progress = null)
    {
        options ??= TsneOptions.Default;
        options.Validate();
        if (Cached(run, options) is { } done) return done;
        string key = KeyFor(run, options);
        lock (_locks.GetOrAdd(key, _ => new object()))
        {
            if (Cached(run, options) is { } raced) return raced;
            ClassAnalytics result;
            try
            {
                result = Compute(run, options, key, (fraction, stage) =>
                {
                    ReportProgress(key, fraction, stage);
                    progress?.Invoke(fraction, stage);
                });
                AtomicFile.Write(PathFor(key), s => JsonSerializer.Serialize(s, result, Json));
            }
            finally
            {
                _progress.TryRemove(key, out _);
                try { File.Delete(ProgressPath(key)); } catch (IOException) { }
            }
            _results[key] = result;
            Interlocked.Increment(ref _computations);
            _requested.TryRemove(key, out _);
            return result;
        }
    }

    /// <summary>
    /// How far the computation of a result has got (null when none is running), from this process or, through a small
    /// file next to the results, from the worker computing it.
    /// </summary>
    public AnalyticsProgress? Progress(RunInfo run, TsneOptions? options = null)
    {
        string key = KeyFor(run, options ?? TsneOptions.Default);
        if (_progress.TryGetValue(key, out var mine)) return mine;
        try
        {
            string path = ProgressPath(key);
            if (!File.Exists(path)) return null;
            var theirs = JsonSerializer.Deserialize<AnalyticsProgress>(File.ReadAllText(path), Json);
            // A worker that died leaves its file behind: an old one says nothing.
            return theirs != null && DateTime.UtcNow - theirs.UpdatedUtc < TimeSpan.FromMinutes(2) ? theirs : null;
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException) { return null; }
    }

    private string ProgressPath(string key) => Path.Combine(Directory, key + ".progress.json");

    // In memory at every call; to the shared folder at most every 0.25 s.
    private void ReportProgress(string key, double fraction, string stage)
    {
        var now = DateTime.UtcNow;
        var current = new AnalyticsProgress(fraction, stage, now) { WrittenUtc = _progress.GetValueOrDefault(key)?.WrittenUtc ?? DateTime.MinValue };
        if (now - current.WrittenUtc >= TimeSpan.FromSeconds(0.25) || fraction >= 1)
        {
            try
            {
                AtomicFile.Write(ProgressPath(key), s => JsonSerializer.Serialize(s, current, Json));
                current = current with { WrittenUtc = now };
            }
            catch (IOException) { } // progress is a courtesy: never fail the computation for it
        }
        _progress[key] = current;
    }

    /// <summary>
    /// Records that a result was requested and returns true when the caller should queue its computation: the first
    /// time, and again after <paramref name="retryAfter"/> in case the queued job was lost or failed.
    /// </summary>
    public bool MarkRequested(RunInfo run, TsneOptions? options = null, TimeSpan? retryAfter = null)
    {
        string key = KeyFor(run, options ?? TsneOptions.Default);
        var now = DateTime.UtcNow;
        var window = retryAfter ?? TimeSpan.FromMinutes(2);
        bool first = true;
        _requested.AddOrUpdate(key, now, (_, previous) =>
        {
            if (now - previous < window) { first = false; return previous; }
            return now;
        });
        return first;
    }

    /// <summary>Accuracy tables of a finished run (from the stored rows; cached).</summary>
    public ModelAccuracy Accuracy(RunInfo run) =>
        _accuracy.GetOrAdd((run.RunId, run.UpdatedUtc), _ => ModelAccuracy.FromRows(run.ModelId, run.RunId, _store.GetAccuracy(run.RunId)));

    /// <summary>Top-1 prediction per image of a finished run (from the stored predictions; cached).</summary>
    public Top1ByImage Top1(RunInfo run) =>
        _top1.GetOrAdd((run.RunId, run.UpdatedUtc), _ => Top1ByImage.FromPredictions(_store.GetPredictions(run.RunId)));

    private ClassAnalytics Compute(RunInfo run, TsneOptions options, string key, Action<double, string>? progress)
    {
        if (run.State != RunStates.Done) throw new InvalidOperationException($"run {run.RunId} ({run.ModelId}) is not finished");
        string confidence = _store.ConfidencePath(run.RunId);
        if (!File.Exists(confidence)) throw new FileNotFoundException($"run {run.RunId}: confidence matrix missing ({confidence})", confidence);
        var (labels, _) = Npy.ReadInts(_store.LabelsPath(run.RunId));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        // The pass over the matrix is reported as the first 10 %, the t-SNE iterations as the rest.
        var sums = ClassSums.FromNpy(confidence, labels, f => progress?.Invoke(0.1 * f, "class distances (Algorithm 1)"));
        var distances = ClassDistance.FromSums(sums);
        double scanSeconds = sw.Elapsed.TotalSeconds;
        int k = distances.Classes.Length;
        (float[] X, float[] Y)? start = null;
        if (options.Init == TsneInit.Reference)
        {
            var layout = _reference.Value ?? throw new ArgumentException("a reference initialisation needs the WordNet hierarchy, and this class index has none");
            start = (distances.Classes.Select(c => layout.X[c]).ToArray(), distances.Classes.Select(c => layout.Y[c]).ToArray());
        }
        var tsne = Tsne.Run(distances.Distances, k, options,
            (it, kl) => progress?.Invoke(0.1 + 0.85 * it / options.Iterations, $"t-SNE iteration {it}/{options.Iterations}, KL {kl:F4}"),
            initial: start);
        var confusions = distances.Classes.Select(c => Confusions.Of(sums, c, StoredConfusions).ToArray()).ToArray();
        var graph = tsne.Neighbours.Take(StoredNeighbours); // the t-SNE's own neighbour search, nearest first
        var neighbours = Enumerable.Range(0, k).Select(i => graph.Of(i).ToArray().Select(j => distances.Classes[j]).ToArray()).ToArray();
        PlaneTransform? alignment = null;
        if (k >= 3 && _reference.Value is { } reference)
        {
            progress?.Invoke(0.97, "aligning to the WordNet reference layout");
            alignment = ReferenceLayout.Align(tsne.X, tsne.Y, distances.Classes, reference.X, reference.Y);
        }
        _log($"{run.ModelId}: class graph of {k} classes ({distances.Missing.Length} without images), {options.MethodName} t-SNE, KL {tsne.Kl:F4}, " +
             $"{tsne.RecallK}-NN recall {tsne.Recall:F3}, scan {scanSeconds:F2} s, t-SNE {tsne.Seconds:F2} s");
        return new ClassAnalytics(FormatVersion, key, run.ModelId, run.RunId, run.ModelFingerprint, run.ImageSetFingerprint,
            options.CacheText(), options, tsne.Perplexity, tsne.Kl, tsne.KlHistory.Select(h => new double[] { h.Iteration, h.Kl }).ToArray(),
            sums.Images, distances.Classes, tsne.X, tsne.Y, distances.Missing, confusions, scanSeconds, tsne.Seconds, tsne.Recall, tsne.RecallK,
            neighbours, alignment);
    }

    /// <summary>The WordNet reference layout (computed once per class hierarchy and kept as a file), or null without a hierarchy.</summary>
    public (float[] X, float[] Y)? Reference => _reference.Value;

    private (float[] X, float[] Y)? LoadReference()
    {
        if (_classes == null || _classes.Parents.Count == 0) return null;
        // Keyed by the classes and the whole is-a graph: a changed hierarchy gives a new reference.
        string key = Fingerprint.OfText($"reference-layout-v1|{ReferenceLayout.Options.CacheText()}|" + string.Join(",", _classes.Classes.Select(c => c.Wnid)) + "|" +
            string.Join(",", _classes.Parents.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + ":" + string.Join("+", kv.Value))))[..32];
        string path = Path.Combine(Directory, $"reference-{key}.json");
        try
        {
            if (File.Exists(path) && JsonSerializer.Deserialize<float[][]>(File.ReadAllText(path), Json) is [{ } x, { } y]
                && x.Length == _classes.Classes.Count && y.Length == x.Length)
                return (x, y);
        }
        catch (Exception e) when (e is IOException or JsonException) { _log($"reference layout {path} is unreadable ({e.Message}); recomputing it"); }
        var (rx, ry) = ReferenceLayout.Compute(_classes);
        AtomicFile.Write(path, s => JsonSerializer.Serialize(s, new[] { rx, ry }, Json));
        return (rx, ry);
    }

    private ClassAnalytics? Load(string key)
    {
        string path = PathFor(key);
        if (!File.Exists(path)) return null;
        try
        {
            using var fs = File.OpenRead(path);
            var result = JsonSerializer.Deserialize<ClassAnalytics>(fs, Json);
            if (result != null && result.Version == FormatVersion && result.Key == key && result.X.Length == result.Classes.Length
                && result.Neighbours?.Length == result.Classes.Length
                && result.Y.Length == result.Classes.Length && result.Confusions.Length == result.Classes.Length)
                return result;
            _log($"analytics file {path} does not match its key or format; it will be recomputed");
        }
        catch (Exception e) when (e is JsonException or IOException or NotSupportedException)
        {
            // A damaged cache file is not an error for the user: recompute it (the rename keeps readers safe).
            _log($"analytics file {path} is unreadable ({e.Message}); it will be recomputed");
        }
        return null;
    }
}
