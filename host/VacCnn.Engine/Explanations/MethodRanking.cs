namespace VacCnn.Engine.Explanations;

/// <summary>One method's faithfulness over a task's models and images.</summary>
/// <param name="Method">Explainer id.</param>
/// <param name="DisplayName">Its name.</param>
/// <param name="Deletion">Mean deletion AUC of its finished maps (lower = more faithful); null before any.</param>
/// <param name="Insertion">Mean insertion AUC (higher = more faithful); null before any.</param>
/// <param name="Done">Maps measured.</param>
/// <param name="Failed">Maps that could not be computed (e.g. a model without gradients).</param>
/// <param name="Total">Maps asked for (models × images).</param>
public sealed record MethodScore(string Method, string DisplayName, double? Deletion, double? Insertion, int Done, int Failed, int Total);

/// <summary>The method ranking of a task, or how far it is.</summary>
/// <param name="Kind">Done when every map is measured (or failed); else Running (some are queued or waiting for room).</param>
/// <param name="Methods">Per method, ranked: highest insertion − deletion first (unmeasured last).</param>
/// <param name="Progress">Fraction of the maps finished.</param>
/// <param name="RetryAfterMs">When to ask again.</param>
public sealed record RankingOutcome(OutcomeKind Kind, IReadOnlyList<MethodScore> Methods, double Progress, int RetryAfterMs);

/// <summary>
/// "Which method is most faithful for these models?": every method (with its defaults, seed 0) on every selected model
/// and image, through the same queue and cache as single explanations, and the mean deletion and insertion AUC per
/// method. Asking again picks up what finished; requests that found the queue full are retried on the next ask, so a
/// ranking never crowds out more than the queue's capacity.
/// </summary>
public static class MethodRanking
{
    /// <summary>Most models in one ranking.</summary>
    public const int MaxModels = 16;
    /// <summary>Most images in one ranking.</summary>
    public const int MaxImages = 16;

    /// <summary>Ranks <paramref name="methods"/> (null or empty = every method) on the models and images.</summary>
    /// <param name="service">The explanation service.</param>
    /// <param name="modelIds">Models.</param>
    /// <param name="imageIds">Images (sample or upload ids).</param>
    /// <param name="methods">Explainer ids.</param>
    /// <param name="explainLabel">Explain each labelled image's ground-truth class instead of each model's prediction.</param>
    public static RankingOutcome Rank(this ExplanationService service, IReadOnlyList<string> modelIds, IReadOnlyList<string> imageIds,
        IReadOnlyList<string>? methods = null, bool explainLabel = false)
    {
        static RequestRejectedException Bad(string m) => new(RequestProblem.BadRequest, m);
        if (modelIds.Count == 0) throw Bad("missing parameter 'models' (comma-separated model ids)");
        if (imageIds.Count == 0) throw Bad("missing parameter 'images' (comma-separated image ids)");
        if (modelIds.Count > MaxModels) throw Bad($"at most {MaxModels} models per ranking, got {modelIds.Count}");
        if (imageIds.Count > MaxImages) throw Bad($"at most {MaxImages} images per ranking, got {imageIds.Count}");
        foreach (var list in new[] { modelIds, imageIds, methods ?? [] })
            if (list.GroupBy(x => x, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } dup)
                throw Bad($"'{dup.Key}' is listed twice");
        var ids = methods is { Count: > 0 } ? methods : service.Runner.Explainers.Select(e => e.Id).ToList();

        // Validate everything before queueing anything.
        var targets = ids.Select(method => (method, list: modelIds.SelectMany(model => imageIds.Select(image =>
        {
            int? cls = explainLabel ? service.Images.Label(image)?.ClassIndex : null;
            return service.Resolve(new ExplanationQuery(model, image, method, cls));
        })).ToList())).ToList();

        var scores = new List<MethodScore>();
        int total = 0, finished = 0, retryAfter = int.MaxValue;
        foreach (var (method, list) in targets)
        {
            var measured = new List<ExplanationQuality>();
            int failed = 0;
            foreach (var target in list)
            {
                var o = service.Request(target);
                switch (o.Kind)
                {
                    case OutcomeKind.Done when o.Result!.Quality is { } q: measured.Add(q); break;
                    case OutcomeKind.Done or OutcomeKind.Failed: failed++; break; // failed, or cached without quality
                    default: retryAfter = Math.Min(retryAfter, Math.Max(200, o.RetryAfterMs)); break;
                }
            }
            total += list.Count;
            finished += measured.Count + failed;
            string name = list[0].What.Explainer.DisplayName;
            scores.Add(new MethodScore(method, name, measured.Count > 0 ? measured.Average(q => q.Deletion) : null,
                measured.Count > 0 ? measured.Average(q => q.Insertion) : null, measured.Count, failed, list.Count));
        }
        var ranked = scores
            .OrderByDescending(s => s.Deletion.HasValue)
            .ThenByDescending(s => s.Insertion - s.Deletion ?? double.NegativeInfinity)
            .ThenBy(s => s.Method, StringComparer.Ordinal)
            .ToList();
        bool done = finished == total;
        return new RankingOutcome(done ? OutcomeKind.Done : OutcomeKind.Running, ranked, total == 0 ? 1 : (double)finished / total,
            done ? 0 : retryAfter == int.MaxValue ? 1000 : retryAfter);
    }
}
