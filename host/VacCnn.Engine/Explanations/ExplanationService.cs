using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using VacCnn.Contracts;
using VacCnn.Engine.Data;

namespace VacCnn.Engine.Explanations;

/// <summary>An explanation request as it arrives (web query or test), before validation.</summary>
/// <param name="Model">Model id.</param>
/// <param name="Image">Image id: path relative to the images root.</param>
/// <param name="Method">Explainer id.</param>
/// <param name="ClassIndex">Class to explain; null = the model's prediction.</param>
/// <param name="Layer">Target layer; null = the model's default.</param>
/// <param name="Seed">Random seed of stochastic methods.</param>
/// <param name="Settings">Explainer settings; missing ones take their defaults.</param>
/// <param name="RandomisedLayers">0 = the trained model; k = the model with its top k weighted layers randomised
/// (seeded by <paramref name="Seed"/>), explaining the trained model's class (see <see cref="RandomisationCheck"/>).</param>
public sealed record ExplanationQuery(string? Model, string? Image, string? Method, int? ClassIndex = null, string? Layer = null,
    int Seed = 0, IReadOnlyDictionary<string, double>? Settings = null, int RandomisedLayers = 0);

/// <summary>A validated request bound to an image file and a cache key.</summary>
/// <param name="What">Model, method and explainer request.</param>
/// <param name="ImageId">Image id.</param>
/// <param name="ImagePath">The file (inside the images root).</param>
/// <param name="Key">Cache key.</param>
/// <param name="GroundTruth">The image's label, when it is a labelled image of the set.</param>
public sealed record ExplanationTarget(ResolvedExplanation What, string ImageId, string ImagePath, string Key, LabeledImage? GroundTruth);

/// <summary>Where a request stands.</summary>
public enum OutcomeKind
{
    /// <summary>Finished (the result is attached).</summary>
    Done,
    /// <summary>Waiting for a worker.</summary>
    Queued,
    /// <summary>Being computed.</summary>
    Running,
    /// <summary>The computation failed (the error is attached).</summary>
    Failed,
    /// <summary>The queue is full: nothing was queued.</summary>
    Full,
}

/// <summary>The answer to an explanation request.</summary>
/// <param name="Kind">Done, pending, failed or refused.</param>
/// <param name="Target">The validated request.</param>
/// <param name="Result">The explanation when done.</param>
/// <param name="Progress">Estimated fraction done (0..1).</param>
/// <param name="RetryAfterMs">When to ask again, for pending or refused requests.</param>
/// <param name="Error">Why it failed.</param>
public sealed record ExplanationOutcome(OutcomeKind Kind, ExplanationTarget Target, ExplanationResult? Result, double Progress,
    int RetryAfterMs, string? Error);

/// <summary>The similarity matrix of several models' explanations of one image (Algorithm 2), or where it stands.</summary>
/// <param name="Kind">Done when every map exists; else Queued/Running (some maps pending), Failed or Full.</param>
/// <param name="Models">Model ids, in the order of the matrix rows.</param>
/// <param name="Matrix">The L × L matrix when done.</param>
/// <param name="Progress">Fraction of maps done (pending ones counted by their estimated progress).</param>
/// <param name="RetryAfterMs">When to ask again.</param>
/// <param name="Pending">Models whose maps are not ready.</param>
/// <param name="Error">Why it failed (naming the model).</param>
public sealed record SimilarityOutcome(OutcomeKind Kind, IReadOnlyList<string> Models, double[,]? Matrix, double Progress,
    int RetryAfterMs, IReadOnlyList<string> Pending, string? Error);

/// <summary>
/// The explanation service shared by the web endpoints and the explanation jobs: validates requests, answers from the
/// store (memory, then the shared data folder) or hands the work to the <see cref="IExplanationScheduler"/> in the
/// request's lane (<see cref="ExplanationLanes.For"/>), and derives similarity matrices, histograms and pictures from
/// finished maps. Every check on a request is cheap; computing happens in background jobs only
/// (<see cref="ComputeAndStore"/>, called by <c>Jobs.ExplanationJobs</c> on whichever worker takes the job).
/// </summary>
public sealed class ExplanationService
{
    /// <summary>Most models in one similarity request.</summary>
    public const int MaxModels = 64;

    private readonly Func<string, string> _modelFingerprint;
    private readonly Lock _matrixGate = new();
    private readonly Dictionary<string, double[,]> _matrices = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _stored = new(StringComparer.Ordinal);
    private readonly ILogger _logger;

    /// <summary>Wires the parts together; <paramref name="modelFingerprint"/> maps a model id to its content fingerprint.</summary>
    public ExplanationService(ExplanationRunner runner, ImageLibrary images, ExplanationCache cache, ImageNetClasses classes,
        IEnumerable<ISimilarityMetric> metrics, Func<string, string> modelFingerprint, IExplanationScheduler scheduler, ILogger? logger = null)
    {
        Runner = runner;
        Images = images;
        Cache = cache;
        Classes = classes;
        Metrics = metrics.ToList();
        _modelFingerprint = modelFingerprint;
        Scheduler = scheduler;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>The service over an engine's models, plugins, images and data folder, scheduling through <paramref name="scheduler"/>.</summary>
    public static ExplanationService Create(VacCnnEngine engine, IExplanationScheduler scheduler, ILogger? logger = null)
    {
        var o = engine.Options;
        var runner = new ExplanationRunner(engine.Models, engine.Plugins.Explainers, o.QualitySteps);
        var uploads = new UploadStore(Path.Combine(o.Data, "uploads"), new UploadLimits((long)o.UploadMegabytes << 20,
            o.UploadMegapixels * 1_000_000L, o.MaxUploads, (long)o.UploadDiskMegabytes << 20));
        var images = new ImageLibrary(o.Images, engine.Classes, Path.Combine(o.Data, "thumbnails"), uploads);
        var cache = new ExplanationCache(Path.Combine(o.Data, "explanations"), (long)o.ExplanationCacheMegabytes << 20, (long)o.ExplanationDiskMegabytes << 20);
        return new ExplanationService(runner, images, cache, engine.Classes, engine.Plugins.Metrics, engine.Evaluation.ModelFingerprint,
            scheduler, logger);
    }

    /// <summary>Runs explanations.</summary>
    public ExplanationRunner Runner { get; }
    /// <summary>The image set.</summary>
    public ImageLibrary Images { get; }
    /// <summary>Finished explanations.</summary>
    public ExplanationCache Cache { get; }
    /// <summary>Hands work to the background workers.</summary>
    public IExplanationScheduler Scheduler { get; }
    /// <summary>Class names.</summary>
    public ImageNetClasses Classes { get; }
    /// <summary>Similarity metrics, by id.</summary>
    public IReadOnlyList<ISimilarityMetric> Metrics { get; }

    /// <summary>Validates a query: unknown model, method or image → <see cref="RequestProblem.NotFound"/>; bad class,
    /// layer or settings → <see cref="RequestProblem.BadRequest"/>.</summary>
    public ExplanationTarget Resolve(ExplanationQuery q)
    {
        var what = Runner.Resolve(q.Model, q.Method, q.ClassIndex, q.Layer, q.Seed, q.Settings, q.RandomisedLayers);
        if (string.IsNullOrEmpty(q.Image)) throw new RequestRejectedException(RequestProblem.BadRequest, "missing parameter 'image'");
        string path = Images.Resolve(q.Image)
            ?? throw new RequestRejectedException(RequestProblem.NotFound, $"no image '{q.Image}' in the image set");
        string key = ExplanationKeys.For(_modelFingerprint(what.Model.Card.Id), ImageFiles.ContentFingerprint(path), what, Runner.QualitySteps);
        return new ExplanationTarget(what, q.Image, path, key, Images.Label(q.Image));
    }

    /// <summary>The explanation when cached; otherwise queues it (once, however often it is asked for) and says how far
    /// it is, or that the queue is full.</summary>
    public ExplanationOutcome Request(ExplanationQuery query) => Request(Resolve(query));

    /// <summary><see cref="Request(ExplanationQuery)"/> for a validated target.</summary>
    public ExplanationOutcome Request(ExplanationTarget target)
    {
        string estimateKey = EstimateKey(target);
        if (Cached(target, estimateKey) is { } cached) return new ExplanationOutcome(OutcomeKind.Done, target, cached, 1, 0, null);
        var lane = ExplanationLanes.For(target.What.Explainer, Scheduler.ExpectedMillis(estimateKey));
        var work = Scheduler.Submit(target, lane, estimateKey);
        if (work is { State: ExplanationState.Done })
        {
            // Finished between the store lookup and the scheduler's; a job that succeeded without the map being found
            // (stored under another key by a worker whose inputs differ, or evicted) is scheduled again.
            if (Cached(target, estimateKey) is { } late) return new ExplanationOutcome(OutcomeKind.Done, target, late, 1, 0, null);
            Scheduler.Finished(target.Key, estimateKey, 0);
            work = Scheduler.Submit(target, lane, estimateKey);
        }
        if (work == null)
            return new ExplanationOutcome(OutcomeKind.Full, target, null, 0, Scheduler.RetryAfterFullMs(),
                $"the explanation queue is full ({Scheduler.Capacity} waiting); try again later");
        return work.State switch
        {
            ExplanationState.Failed => new ExplanationOutcome(OutcomeKind.Failed, target, null, 0, 0, work.Error),
            ExplanationState.Running => new ExplanationOutcome(OutcomeKind.Running, target, null, work.Progress, work.RetryAfterMs, null),
            _ => new ExplanationOutcome(OutcomeKind.Queued, target, null, 0, work.RetryAfterMs, null),
        };
    }

    // The stored map; the first time it is found after this host scheduled it, the scheduler learns its duration and the
    // log says which worker computed it.
    private ExplanationResult? Cached(ExplanationTarget target, string estimateKey)
    {
        if (Cache.TryGet(target.Key) is not { } result) return null;
        if (Scheduler.Find(target.Key) != null)
        {
            Scheduler.Finished(target.Key, estimateKey, result.Millis);
            _logger.LogInformation("explanation {Method} of {Model} for {Image} computed by {Worker} in {Millis} ms",
                result.Method, result.ModelId, target.ImageId, result.ComputedBy ?? "an unknown worker", result.Millis);
        }
        return result;
    }

    /// <summary>
    /// <see cref="Request(ExplanationTarget)"/>, then, while the work is pending, waits up to <paramref name="wait"/> for
    /// it (long polling: a cheap map comes back in the first answer). Woken at once when a worker of this process stores
    /// the map; work done by other processes is seen within 50 ms.
    /// </summary>
    public async Task<ExplanationOutcome> RequestAsync(ExplanationTarget target, TimeSpan wait, CancellationToken cancellationToken = default)
    {
        var deadline = DateTime.UtcNow + wait;
        while (true)
        {
            var outcome = Request(target);
            var left = deadline - DateTime.UtcNow;
            if (outcome.Kind is not (OutcomeKind.Queued or OutcomeKind.Running))
            {
                _stored.TryRemove(target.Key, out _);
                return outcome;
            }
            if (left <= TimeSpan.Zero) return outcome;
            var stored = _stored.GetOrAdd(target.Key, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            await Task.WhenAny(stored, Task.Delay(left < TimeSpan.FromMilliseconds(50) ? left : TimeSpan.FromMilliseconds(50), cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>The explanation if it is cached, else null (nothing is queued).</summary>
    public ExplanationResult? Cached(ExplanationQuery query) => Cache.TryGet(Resolve(query).Key);

    private static string EstimateKey(ExplanationTarget t) =>
        $"{t.What.Model.Card.Id}\n{t.What.Explainer.Id}\n{t.What.CanonicalSettings}\n{t.What.RandomisedLayers}";

    /// <summary>
    /// Computes the map of <paramref name="target"/> unless it is stored, and stores it (run by the explanation jobs).
    /// Waiters of this process are woken when it is over, whether it succeeded or failed.
    /// </summary>
    public ExplanationResult ComputeAndStore(ExplanationTarget target, CancellationToken cancellationToken)
    {
        try
        {
            // Another worker (or an earlier run of the same job) may have finished it meanwhile.
            if (Cache.TryGet(target.Key) is { } cached) return cached;
            var result = Runner.Explain(target.What, target.ImagePath, target.Key, cancellationToken);
            Cache.Put(result);
            return result;
        }
        finally
        {
            if (_stored.TryRemove(target.Key, out var waiters)) waiters.TrySetResult();
        }
    }

    /// <summary>
    /// Algorithm 2 for one image: every model's map (queued when missing), then the L × L matrix of the metric. The
    /// same class (or each model's own prediction), method, settings and seed for all; each model uses its default layer.
    /// </summary>
    public SimilarityOutcome Similarity(IReadOnlyList<string> modelIds, string? image, string? method, string? metricId,
        int? classIndex = null, int seed = 0, IReadOnlyDictionary<string, double>? settings = null)
    {
        if (modelIds.Count == 0) throw new RequestRejectedException(RequestProblem.BadRequest, "missing parameter 'models' (comma-separated model ids)");
        if (modelIds.Count > MaxModels)
            throw new RequestRejectedException(RequestProblem.BadRequest, $"at most {MaxModels} models per request, got {modelIds.Count}");
        if (modelIds.GroupBy(m => m, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } dup)
            throw new RequestRejectedException(RequestProblem.BadRequest, $"model '{dup.Key}' is listed twice");
        if (string.IsNullOrWhiteSpace(metricId)) throw new RequestRejectedException(RequestProblem.BadRequest, "missing parameter 'metric'");
        var metric = Metrics.FirstOrDefault(m => m.Id == metricId)
            ?? throw new RequestRejectedException(RequestProblem.NotFound,
                $"no similarity metric '{metricId}'; known: {string.Join(", ", Metrics.Select(m => m.Id))}");
        var targets = modelIds.Select(id => Resolve(new ExplanationQuery(id, image, method, classIndex, null, seed, settings))).ToList();

        var outcomes = targets.Select(Request).ToList();
        var pending = outcomes.Where(o => o.Kind != OutcomeKind.Done).Select(o => o.Target.What.Model.Card.Id).ToList();
        double progress = outcomes.Average(o => o.Kind == OutcomeKind.Done ? 1 : o.Progress);
        if (outcomes.FirstOrDefault(o => o.Kind == OutcomeKind.Failed) is { } failed)
            return new SimilarityOutcome(OutcomeKind.Failed, modelIds, null, progress, 0, pending,
                $"model '{failed.Target.What.Model.Card.Id}': {failed.Error}");
        if (outcomes.FirstOrDefault(o => o.Kind == OutcomeKind.Full) is { } full)
            return new SimilarityOutcome(OutcomeKind.Full, modelIds, null, progress, full.RetryAfterMs, pending, full.Error);
        if (pending.Count > 0)
        {
            var kind = outcomes.Any(o => o.Kind == OutcomeKind.Running) ? OutcomeKind.Running : OutcomeKind.Queued;
            return new SimilarityOutcome(kind, modelIds, null, progress, outcomes.Where(o => o.Kind != OutcomeKind.Done).Min(o => o.RetryAfterMs),
                pending, null);
        }
        string matrixKey = metric.Id + "\n" + string.Join("\n", outcomes.Select(o => o.Target.Key));
        double[,]? matrix;
        lock (_matrixGate) _matrices.TryGetValue(matrixKey, out matrix);
        if (matrix == null)
        {
            matrix = SimilarityMatrix.Compute(outcomes.Select(o => o.Result!.Map).ToList(), metric);
            lock (_matrixGate)
            {
                if (_matrices.Count >= 256) _matrices.Clear(); // a small memo, not a store: recomputing is cheap
                _matrices[matrixKey] = matrix;
            }
        }
        return new SimilarityOutcome(OutcomeKind.Done, modelIds, matrix, 1, 0, [], null);
    }

    /// <summary>Refuses histogram parameters out of range (callers check before anything is queued).</summary>
    public static void CheckHistogram(double threshold, int bins)
    {
        if (!(threshold is >= 0 and <= 1))
            throw new RequestRejectedException(RequestProblem.BadRequest, $"threshold must be in [0, 1], got {threshold.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        if (bins is < 1 or > 256) throw new RequestRejectedException(RequestProblem.BadRequest, $"bins must be from 1 to 256, got {bins}");
    }

    /// <summary>Refuses picture options out of range as a bad request (callers check before anything is queued).</summary>
    public static void CheckPicture(HeatmapOptions options)
    {
        try { options.Validate(); }
        catch (ArgumentException e) { throw new RequestRejectedException(RequestProblem.BadRequest, e.Message); }
    }

    /// <summary>Colour histograms of the pixels of the image whose saliency is ≥ <paramref name="threshold"/>.</summary>
    public ColorHistogram Histogram(ExplanationTarget target, ExplanationResult result, double threshold, int bins)
    {
        CheckHistogram(threshold, bins);
        using var image = ImageFiles.LoadRgb(target.ImagePath);
        return ColorHistogram.Compute(image, result.Map, threshold, bins);
    }

    /// <summary>The heatmap with contours over the image (or the filtered image), as PNG.</summary>
    public byte[] Picture(ExplanationTarget target, ExplanationResult result, HeatmapOptions options, bool filtered = false)
    {
        CheckPicture(options);
        using var image = ImageFiles.LoadRgb(target.ImagePath);
        return filtered ? HeatmapRenderer.FilteredPng(image, result.Map, options) : HeatmapRenderer.OverlayPng(image, result.Map, options);
    }

    /// <summary>Display name of a class index ("class N" when unknown).</summary>
    public string ClassName(int index) => index >= 0 && index < Classes.Classes.Count ? Classes.Classes[index].Label : $"class {index}";
}
