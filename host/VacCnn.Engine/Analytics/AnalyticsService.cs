using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
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
/// <param name="X">First coordinate per point.</param>
/// <param name="Y">Second coordinate per point.</param>
/// <param name="Missing">Classes without images (no point).</param>
/// <param name="Confusions">Per class with images (same order as <paramref name="Classes"/>): its strongest confusions.</param>
/// <param name="ScanSeconds">Time of the pass over the confidence matrix.</param>
/// <param name="TsneSeconds">Time of the t-SNE.</param>
public sealed record ClassAnalytics(
    int Version, string Key, string ModelId, string RunId, string ModelFingerprint, string ImageSetFingerprint, string Settings,
    TsneOptions Tsne, double Perplexity, double Kl, double[][] KlHistory, int Images, int[] Classes, float[] X, float[] Y,
    int[] Missing, Confusion[][] Confusions, double ScanSeconds, double TsneSeconds)
{
    private Dictionary<int, int>? _position;

    /// <summary>Position of class <paramref name="index"/> in <see cref="Classes"/>, or −1.</summary>
    public int PositionOf(int index) => (_position ??= Classes.Select((c, k) => (c, k)).ToDictionary(t => t.c, t => t.k)).GetValueOrDefault(index, -1);
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
    public const int FormatVersion = 1;

    /// <summary>How many confusions are stored per class.</summary>
    public const int StoredConfusions = 20;

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private readonly ResultStore _store;
    private readonly Action<string> _log;
    private readonly ConcurrentDictionary<string, ClassAnalytics> _results = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, object> _locks = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTime> _requested = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string, DateTime), ModelAccuracy> _accuracy = new();
    private readonly ConcurrentDictionary<(string, DateTime), Top1ByImage> _top1 = new();
    private int _computations;

    /// <summary>Creates the service over <paramref name="store"/>.</summary>
    public AnalyticsService(ResultStore store, Action<string>? log = null)
    {
        _store = store;
        _log = log ?? (_ => { });
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
            var result = Compute(run, options, key, progress);
            AtomicFile.Write(PathFor(key), s => JsonSerializer.Serialize(s, result, Json));
            _results[key] = result;
            Interlocked.Increment(ref _computations);
            _requested.TryRemove(key, out _);
            return result;
        }
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
        var tsne = Tsne.Run(distances.Distances, k, options,
            (it, kl) => progress?.Invoke(0.1 + 0.9 * it / options.Iterations, $"t-SNE iteration {it}/{options.Iterations}, KL {kl:F4}"));
        var confusions = distances.Classes.Select(c => Confusions.Of(sums, c, StoredConfusions).ToArray()).ToArray();
        _log($"{run.ModelId}: class graph of {k} classes ({distances.Missing.Length} without images), KL {tsne.Kl:F4}, " +
             $"scan {scanSeconds:F2} s, t-SNE {tsne.Seconds:F2} s");
        return new ClassAnalytics(FormatVersion, key, run.ModelId, run.RunId, run.ModelFingerprint, run.ImageSetFingerprint,
            options.CacheText(), options, tsne.Perplexity, tsne.Kl, tsne.KlHistory.Select(h => new double[] { h.Iteration, h.Kl }).ToArray(),
            sums.Images, distances.Classes, tsne.X, tsne.Y, distances.Missing, confusions, scanSeconds, tsne.Seconds);
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
