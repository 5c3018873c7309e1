using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using VacCnn.Contracts;
using VacCnn.Engine.Evaluation;
using VacCnn.Engine.Plugins;

namespace VacCnn.Engine.Explanations;

/// <summary>A validated explanation request: the model, the method, and the explainer request with every setting
/// filled in (defaults included) and the layer resolved, so that equal requests look equal.</summary>
/// <param name="Model">The classifier.</param>
/// <param name="Explainer">The method.</param>
/// <param name="Request">Class (null = predicted), resolved layer (null when the model has no gradients), seed, all settings.</param>
/// <param name="RandomisedLayers">0, or how many top layers of the model are randomised (seeded by the request's seed).</param>
public sealed record ResolvedExplanation(IClassifier Model, IExplainer Explainer, ExplanationRequest Request, int RandomisedLayers = 0)
{
    /// <summary>Settings as "name=value" in name order (invariant culture, round-trip): part of cache keys.</summary>
    public string CanonicalSettings => string.Join(";", Request.Settings.OrderBy(kv => kv.Key, StringComparer.Ordinal)
        .Select(kv => kv.Key + "=" + kv.Value.ToString("R", CultureInfo.InvariantCulture)));
}

/// <summary>
/// One explanation of one image file. <see cref="CropMap"/> is what the explainer returned (crop resolution);
/// <see cref="Map"/> is it placed back onto the original picture (0 outside the model's centre crop).
/// </summary>
public sealed class ExplanationResult
{
    private SaliencyMap? _map;

    /// <summary>Cache key (see <see cref="ExplanationKeys"/>); empty when computed without a cache.</summary>
    public required string Key { get; init; }
    /// <summary>Model id.</summary>
    public required string ModelId { get; init; }
    /// <summary>Explainer id.</summary>
    public required string Method { get; init; }
    /// <summary>Map at the model's crop resolution, with the class explained, its probability and the layer.</summary>
    public required SaliencyMap CropMap { get; init; }
    /// <summary>Where the crop lies in the original picture.</summary>
    public required CropRect Crop { get; init; }
    /// <summary>Original width.</summary>
    public required int ImageWidth { get; init; }
    /// <summary>Original height.</summary>
    public required int ImageHeight { get; init; }
    /// <summary>The model's top class.</summary>
    public required int PredictedIndex { get; init; }
    /// <summary>Its probability.</summary>
    public required float PredictedProbability { get; init; }
    /// <summary>Time taken by the explanation (preprocessing included, the quality measurement not), milliseconds.</summary>
    public required long Millis { get; init; }
    /// <summary>Seed used.</summary>
    public required int Seed { get; init; }
    /// <summary>Deletion and insertion AUC of the map, measured with it; null when measuring is switched off.</summary>
    public ExplanationQuality? Quality { get; init; }
    /// <summary>The worker process that computed it (<c>machine · pid N</c>); null for maps stored before this was kept.</summary>
    public string? ComputedBy { get; init; }

    /// <summary>Class explained.</summary>
    public int ClassIndex => CropMap.ClassIndex;
    /// <summary>The model's probability for the class explained.</summary>
    public float Probability => CropMap.Probability;
    /// <summary>Layer used, if any.</summary>
    public string? Layer => CropMap.Layer;

    /// <summary>The map at the original resolution (computed once, on first use).</summary>
    public SaliencyMap Map => _map ??= MapPlacement.ToOriginal(CropMap, ImageWidth, ImageHeight, (Crop.X, Crop.Y, Crop.Width, Crop.Height));

    /// <summary>Approximate memory held, for the cache's budget.</summary>
    internal long ApproximateBytes => 4L * CropMap.Values.Length + 4L * ImageWidth * ImageHeight + 512;
}

/// <summary>
/// Explains one image end to end, for the web service and the CLI alike: check the file (ImageSharp header limits),
/// preprocess it exactly as the model's evaluation does, run the explainer, place the map back onto the original
/// picture, report the model's prediction next to the class explained, and measure the map's deletion and insertion
/// AUC (<see cref="DeletionInsertion"/>) with <paramref name="qualitySteps"/> steps (0 = not measured).
/// </summary>
public sealed class ExplanationRunner(ModelRegistry models, IEnumerable<IExplainer> explainers, int qualitySteps = DeletionInsertion.DefaultSteps)
{
    private readonly IReadOnlyList<IExplainer> _explainers = explainers.ToList();
    private readonly ConcurrentDictionary<string, ImagePreprocessor> _preprocessors = new(StringComparer.Ordinal);
    private long _computations;

    /// <summary>The models.</summary>
    public ModelRegistry Models => models;

    /// <summary>Steps of the deletion and insertion curves measured with every explanation; 0 = not measured.</summary>
    public int QualitySteps { get; } = qualitySteps is >= 0 and <= DeletionInsertion.MaxSteps
        ? qualitySteps
        : throw new ArgumentOutOfRangeException(nameof(qualitySteps), qualitySteps, $"quality steps must be from 0 to {DeletionInsertion.MaxSteps}");

    /// <summary>The explanation methods, by id.</summary>
    public IReadOnlyList<IExplainer> Explainers => _explainers;

    /// <summary>How many explanations were computed (not served from a cache) since start.</summary>
    public long Computations => Interlocked.Read(ref _computations);

    /// <summary>Most top layers a randomisation check may randomise.</summary>
    public const int MaxRandomisedLayers = 16;

    /// <summary>
    /// Validates a request without running anything: known model and method (else <see cref="RequestProblem.NotFound"/>),
    /// class in 0..classes−1, a candidate layer of the model, every setting a known name within its bounds, and
    /// randomised layers the model can randomise (else <see cref="RequestProblem.BadRequest"/>, with the allowed values
    /// in the message).
    /// </summary>
    public ResolvedExplanation Resolve(string? modelId, string? method, int? classIndex, string? layer, int seed,
        IReadOnlyDictionary<string, double>? settings, int randomisedLayers = 0)
    {
        if (string.IsNullOrWhiteSpace(modelId)) throw Bad("missing parameter 'model'");
        if (string.IsNullOrWhiteSpace(method)) throw Bad("missing parameter 'method'");
        var model = models.Find(modelId)
            ?? throw new RequestRejectedException(RequestProblem.NotFound,
                $"no model '{modelId}'; known: {string.Join(", ", models.Classifiers.Select(c => c.Card.Id))}");
        var explainer = _explainers.FirstOrDefault(e => e.Id == method)
            ?? throw new RequestRejectedException(RequestProblem.NotFound,
                $"no explanation method '{method}'; known: {string.Join(", ", _explainers.Select(e => e.Id))}");
        if (classIndex is int c && (c < 0 || c >= model.Card.ClassCount))
            throw Bad($"class {c} is out of range: model '{modelId}' has classes 0..{model.Card.ClassCount - 1}");

        string? resolvedLayer = null;
        if (model.Explainable is { } ex)
        {
            resolvedLayer = layer ?? ex.DefaultLayer;
            if (ex.CandidateLayers.All(l => l.Name != resolvedLayer))
                throw Bad($"model '{modelId}' has no layer '{resolvedLayer}'; see the candidate layers (vaccnn layers --model {modelId})");
        }
        else if (layer != null) throw Bad($"model '{modelId}' provides no gradients, so it has no layers to explain");

        var values = explainer.Settings.ToDictionary(s => s.Name, s => s.Default, StringComparer.Ordinal);
        foreach (var (name, value) in settings ?? new Dictionary<string, double>())
        {
            var info = explainer.Settings.FirstOrDefault(s => s.Name == name)
                ?? throw Bad($"'{method}' has no setting '{name}'; its settings: {(explainer.Settings.Count == 0 ? "none" : string.Join(", ", explainer.Settings.Select(s => s.Name)))}");
            if (!double.IsFinite(value) || value < info.Min || value > info.Max)
                throw Bad($"setting '{name}' of '{method}' must be between {info.Min.ToString(CultureInfo.InvariantCulture)} and {info.Max.ToString(CultureInfo.InvariantCulture)}, got {value.ToString(CultureInfo.InvariantCulture)}");
            values[name] = value;
        }
        if (randomisedLayers != 0)
        {
            int most = Math.Min(MaxRandomisedLayers, model.RandomisableLayers);
            if (most == 0) throw Bad($"model '{modelId}' cannot randomise its weights, so it has no randomisation check");
            if (randomisedLayers < 1 || randomisedLayers > most)
                throw Bad($"randomised layers must be from 1 to {most} for model '{modelId}', got {randomisedLayers}");
        }
        return new ResolvedExplanation(model, explainer, new ExplanationRequest(classIndex, resolvedLayer, seed, values), randomisedLayers);
    }

    private static RequestRejectedException Bad(string message) => new(RequestProblem.BadRequest, message);

    /// <summary>Explains the image file. Throws <see cref="InvalidDataException"/> when the file is not a usable
    /// image, and whatever the explainer throws (e.g. <see cref="NotSupportedException"/> for a model without gradients).</summary>
    /// <param name="what">The validated request.</param>
    /// <param name="imagePath">The picture.</param>
    /// <param name="key">Cache key to stamp on the result.</param>
    /// <param name="cancellationToken">Stops the explainer between passes.</param>
    public ExplanationResult Explain(ResolvedExplanation what, string imagePath, string key = "", CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        var model = what.Model;
        var spec = model.Card.Preprocessing;
        var (width, height) = ImageFiles.Size(imagePath);
        var preprocessor = _preprocessors.GetOrAdd(model.Card.Id, _ => new ImagePreprocessor(spec) { DegreeOfParallelism = 1 });
        var batch = preprocessor.Preprocess([imagePath]);
        if (batch.Decoded.Count == 0)
            throw new InvalidDataException($"cannot use image '{Path.GetFileName(imagePath)}': {batch.Skipped[0].Reason}");
        cancellationToken.ThrowIfCancellationRequested();

        Interlocked.Increment(ref _computations);
        var request = what.Request;
        RandomisedClassifier? randomised = null;
        if (what.RandomisedLayers > 0)
        {
            // The randomisation check compares maps of the same class: the trained model's, when none is named.
            request = request with { ClassIndex = request.ClassIndex ?? Numerics.Scores.ArgMax(model.PredictProbabilities(batch.Tensor).Item(0)) };
            randomised = model.RandomiseTopLayers(what.RandomisedLayers, request.Seed);
            model = randomised.Classifier;
        }
        try { return Explain(what, model, request, batch.Tensor, (width, height), clock, key, cancellationToken); }
        finally { randomised?.Dispose(); }
    }

    private ExplanationResult Explain(ResolvedExplanation what, IClassifier model, ExplanationRequest request, FloatTensor image,
        (int Width, int Height) size, Stopwatch clock, string key, CancellationToken cancellationToken)
    {
        var spec = model.Card.Preprocessing;
        var map = what.Explainer.Explain(model, image, request, cancellationToken);
        if (map.Width != spec.CropWidth || map.Height != spec.CropHeight || map.Values.Length != map.Width * map.Height)
            throw new InvalidOperationException(
                $"explainer '{what.Explainer.Id}' returned a {map.Width}×{map.Height} map for a {spec.CropWidth}×{spec.CropHeight} crop");
        // Without a named class the explainer found the prediction itself (in the same pass as its gradients, for the
        // gradient methods), and the map reports it; a named class needs one forward pass here for the prediction.
        int predicted = map.ClassIndex;
        float predictedProbability = map.Probability;
        if (request.ClassIndex is not null)
        {
            var probabilities = model.PredictProbabilities(image).Item(0);
            predicted = Numerics.Scores.ArgMax(probabilities);
            predictedProbability = probabilities[predicted];
        }
        else if (map.ClassIndex < 0 || map.ClassIndex >= model.Card.ClassCount)
            throw new InvalidOperationException($"explainer '{what.Explainer.Id}' reported class {map.ClassIndex} for a model with classes 0..{model.Card.ClassCount - 1}");
        foreach (float v in map.Values)
            if (!(v >= 0 && v <= 1))
                throw new InvalidOperationException($"explainer '{what.Explainer.Id}' returned a value {v} outside [0, 1]");
        long millis = clock.ElapsedMilliseconds;
        // A randomised model's map is only compared with the trained one's; its faithfulness to a broken model is not asked.
        var quality = QualitySteps > 0 && what.RandomisedLayers == 0
            ? DeletionInsertion.Measure(model, image, map.Values, map.ClassIndex, QualitySteps, cancellationToken)
            : null;
        return new ExplanationResult
        {
            Key = key,
            ModelId = model.Card.Id,
            Method = what.Explainer.Id,
            CropMap = map,
            Crop = CropGeometry.SourceRect(size.Width, size.Height, spec),
            ImageWidth = size.Width,
            ImageHeight = size.Height,
            PredictedIndex = predicted,
            PredictedProbability = predictedProbability,
            Millis = millis,
            Seed = request.Seed,
            Quality = quality,
            ComputedBy = Store.ShardOwner.ThisWorker,
        };
    }
}
