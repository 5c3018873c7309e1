using MathNet.Numerics.Statistics;

namespace VacCnn.Engine.Explanations;

/// <summary>One step of the cascade: the map with the top <see cref="Layers"/> layers randomised.</summary>
/// <param name="Layers">Weighted layers randomised, counted from the output.</param>
/// <param name="Target">The randomised explanation (its key, for pictures and maps).</param>
/// <param name="Spearman">Rank correlation of its map with the trained model's map, over the crop's pixels; null while
/// either map is pending, or when one of them is constant (no ranking to correlate).</param>
/// <param name="Done">Whether the randomised map is finished.</param>
public sealed record RandomisationLevel(int Layers, ExplanationTarget Target, double? Spearman, bool Done);

/// <summary>The randomisation check of one model, method and image, or how far it is.</summary>
/// <param name="Kind">Done when every map is finished; Queued/Running while some are pending; Failed; Full.</param>
/// <param name="Trained">The trained model's explanation.</param>
/// <param name="Levels">One per cascade step, 1 … layers randomised.</param>
/// <param name="Progress">Fraction of the maps finished.</param>
/// <param name="RetryAfterMs">When to ask again.</param>
/// <param name="Error">Why it failed.</param>
/// <param name="ClassIndex">The class every map explains, once the trained map is finished.</param>
public sealed record RandomisationOutcome(OutcomeKind Kind, ExplanationTarget Trained, IReadOnlyList<RandomisationLevel> Levels,
    double Progress, int RetryAfterMs, string? Error, int? ClassIndex)
{
    /// <summary>Whether the map passes at the deepest randomisation: its correlation with the trained map is below
    /// <see cref="RandomisationCheck.PassBelow"/> (a constant randomised map passes too); null until done.</summary>
    public bool? Passed => Kind != OutcomeKind.Done ? null : (Levels[^1].Spearman ?? 0) < RandomisationCheck.PassBelow;
}

/// <summary>
/// Adebayo et al.'s model randomisation test ("Sanity checks for saliency maps", NeurIPS 2018), on demand: the map of
/// the trained model against the maps of copies whose top 1, 2, … k weighted layers have their weights randomly
/// permuted in memory (<see cref="VacCnn.Contracts.IClassifier.RandomiseTopLayers"/>), all explaining the trained
/// model's class with the same settings and seed. A method that explains the model gives a very different map once
/// the learned weights are gone (rank correlation near 0); one that mostly shows the image's edges keeps a high
/// correlation whatever the weights. Every map is an ordinary explanation on the same queue and cache.
/// </summary>
public static class RandomisationCheck
{
    /// <summary>Layers randomised when a request does not say.</summary>
    public const int DefaultLayers = 3;

    /// <summary>The pass mark on the rank correlation at the deepest randomisation (the explainers' sanity tests use it too).</summary>
    public const double PassBelow = 0.5;

    /// <summary>Requests the trained map and the <paramref name="layers"/> randomised ones (queued when missing) and
    /// correlates those that are finished.</summary>
    /// <param name="service">The explanation service.</param>
    /// <param name="query">Model, image, method, class (null = the trained model's prediction), layer, seed, settings.</param>
    /// <param name="layers">Cascade depth: 1 to <see cref="ExplanationRunner.MaxRandomisedLayers"/> and the model's randomisable layers.</param>
    public static RandomisationOutcome CheckRandomisation(this ExplanationService service, ExplanationQuery query, int layers = DefaultLayers)
    {
        if (query.RandomisedLayers != 0)
            throw new RequestRejectedException(RequestProblem.BadRequest, "the randomisation check starts from the trained model; give its depth as 'layers'");
        // Validate every step (the deepest is the strictest) before queueing anything.
        var trained = service.Resolve(query);
        if (layers < 1) throw new RequestRejectedException(RequestProblem.BadRequest, $"layers must be at least 1, got {layers}");
        var targets = Enumerable.Range(1, layers).Reverse().Select(k => service.Resolve(query with { RandomisedLayers = k })).Reverse().ToList();

        var first = service.Request(trained);
        var outcomes = targets.Select(service.Request).ToList();
        var all = outcomes.Prepend(first).ToList();
        int? cls = first.Result?.ClassIndex;
        double progress = all.Average(o => o.Kind == OutcomeKind.Done ? 1 : o.Progress);
        var levels = outcomes.Select((o, i) => new RandomisationLevel(i + 1, o.Target,
            first.Kind == OutcomeKind.Done && o.Kind == OutcomeKind.Done ? Spearman(first.Result!, o.Result!) : null,
            o.Kind == OutcomeKind.Done)).ToList();

        if (all.FirstOrDefault(o => o.Kind == OutcomeKind.Failed) is { } failed)
            return new RandomisationOutcome(OutcomeKind.Failed, trained, levels, progress, 0,
                failed.Target.What.RandomisedLayers == 0 ? $"trained model: {failed.Error}" : $"{failed.Target.What.RandomisedLayers} layer(s) randomised: {failed.Error}", cls);
        if (all.FirstOrDefault(o => o.Kind == OutcomeKind.Full) is { } full)
            return new RandomisationOutcome(OutcomeKind.Full, trained, levels, progress, full.RetryAfterMs, full.Error, cls);
        var pending = all.Where(o => o.Kind != OutcomeKind.Done).ToList();
        if (pending.Count > 0)
            return new RandomisationOutcome(pending.Any(o => o.Kind == OutcomeKind.Running) ? OutcomeKind.Running : OutcomeKind.Queued,
                trained, levels, progress, pending.Min(o => o.RetryAfterMs), null, cls);
        return new RandomisationOutcome(OutcomeKind.Done, trained, levels, 1, 0, null, cls);
    }

    private static double? Spearman(ExplanationResult trained, ExplanationResult randomised)
    {
        if (randomised.ClassIndex != trained.ClassIndex)
            throw new InvalidOperationException($"the randomised map explains class {randomised.ClassIndex}, the trained one {trained.ClassIndex}");
        // Average ranks for ties (MathNet's Spearman), which matter here: CAMs have large areas of zero.
        double rho = Correlation.Spearman(trained.CropMap.Values.Select(v => (double)v), randomised.CropMap.Values.Select(v => (double)v));
        return double.IsFinite(rho) ? rho : null;
    }
}
