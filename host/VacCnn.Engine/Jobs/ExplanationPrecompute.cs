using System.Text.Json;
using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using VacCnn.Engine.Explanations;
using VacCnn.Engine.Store;

namespace VacCnn.Engine.Jobs;

/// <summary>
/// Precompute batches of explanations as Hangfire jobs: <see cref="Start"/> records the batch and queues
/// <see cref="Plan"/>, which lists models × methods × images and queues one <see cref="ExplainItem"/> per item not yet
/// finished, in the precompute lane (after every user request). Each finished item is a row in the store, so progress
/// is counted there, any worker can take any item, and a batch killed halfway is planned again at start-up
/// (<see cref="RunRecovery"/>) without recomputing what is finished; a restarted item that finds its map stored only
/// records it. Maps are deterministic (seeded), so a resumed batch gives the maps an uninterrupted one gives.
/// </summary>
public sealed class ExplanationPrecompute(ExplanationService service, ResultStore store, IBackgroundJobClient jobs)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The batch id of a selection: the same selection is the same batch (asking again resumes it).</summary>
    public static string BatchId(PrecomputeSpec spec) => Fingerprint.OfText("vaccnn-precompute-v1\n" + ToJson(spec))[..16];

    /// <summary>A stored selection in words (its JSON as it is when it cannot be read).</summary>
    public static string Describe(string specJson)
    {
        try { return JsonSerializer.Deserialize<PrecomputeSpec>(specJson, Json)?.ToString() ?? specJson; }
        catch (JsonException) { return specJson; }
    }

    /// <summary>
    /// Checks the selection (unknown model, method, class or image → <see cref="RequestRejectedException"/>), records
    /// the batch and queues its planning; returns the batch id.
    /// </summary>
    public string Start(PrecomputeSpec spec)
    {
        spec = Normalised(spec);
        _ = Items(spec); // every problem of the selection is reported now, not by a background job
        string id = BatchId(spec);
        store.StartBatch(id, ToJson(spec));
        jobs.Create(Job.FromExpression<ExplanationPrecompute>(p => p.Plan(id)), new EnqueuedState(ExplanationLanes.PrecomputeQueue));
        return id;
    }

    /// <summary>The selection as it is stored in the batch and in a schedule.</summary>
    public static string ToJson(PrecomputeSpec spec) => JsonSerializer.Serialize(Normalised(spec), Json);

    /// <summary>
    /// A cron schedule's run: starts the batch again, which explains what the selection holds now (images added to
    /// the image set since, a class's new images) and skips everything already stored.
    /// </summary>
    [AutomaticRetry(Attempts = 0, OnAttemptsExceeded = AttemptsExceededAction.Fail)]
    [JobDisplayName("scheduled precompute")]
    public string StartScheduled(string specJson) =>
        Start(JsonSerializer.Deserialize<PrecomputeSpec>(specJson, Json) ?? throw new InvalidOperationException("empty precompute selection"));

    /// <summary>Queues the unfinished items of a batch (again, after a restart); returns how many were queued.</summary>
    [AutomaticRetry(Attempts = 1, OnAttemptsExceeded = AttemptsExceededAction.Fail)]
    [JobDisplayName("plan precompute batch {0}")]
    public int Plan(string batchId)
    {
        var batch = store.GetBatch(batchId) ?? throw new InvalidOperationException($"no precompute batch '{batchId}'");
        var spec = JsonSerializer.Deserialize<PrecomputeSpec>(batch.Spec, Json)!;
        var items = Items(spec);
        store.SetBatchTotal(batchId, items.Count);
        var finished = store.FinishedBatchItems(batchId);
        int queued = 0;
        foreach (var (name, item) in items)
        {
            if (finished.Contains(name)) continue;
            jobs.Create(Job.FromExpression<ExplanationPrecompute>(p => p.ExplainItem(batchId, name, item, CancellationToken.None)),
                new EnqueuedState(ExplanationLanes.PrecomputeQueue));
            queued++;
        }
        if (queued == 0) store.CompleteBatchIfFinished(batchId);
        return queued;
    }

    /// <summary>
    /// Computes (or finds) one item's map and records it; a failure (an image that cannot be decoded, a plugin that
    /// throws) is recorded with its reason and does not stop the batch. Cancellation (the worker stopping) is not a
    /// failure: the job goes back to the queue.
    /// </summary>
    [AutomaticRetry(Attempts = 0, OnAttemptsExceeded = AttemptsExceededAction.Fail)]
    [JobDisplayName("precompute {2}")]
    public string ExplainItem(string batchId, string item, ExplanationJobSpec spec, CancellationToken cancellationToken)
    {
        string? error = null;
        string result;
        try
        {
            var r = service.ComputeAndStore(service.Resolve(spec.ToQuery()), cancellationToken);
            result = $"{r.Millis} ms, computed by {r.ComputedBy}";
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
        {
            error = e.Message;
            result = "failed: " + e.Message;
        }
        store.FinishBatchItem(batchId, item, error, ShardOwner.ThisWorker);
        return result;
    }

    /// <summary>The items of a selection: (name, request), models × methods × images, in a stable order.</summary>
    public IReadOnlyList<(string Name, ExplanationJobSpec Spec)> Items(PrecomputeSpec spec)
    {
        if (spec.Models.Count == 0) throw new RequestRejectedException(RequestProblem.BadRequest, "choose at least one model");
        if (spec.Methods.Count == 0) throw new RequestRejectedException(RequestProblem.BadRequest, "choose at least one method");
        int classCount = service.Classes.Classes.Count;
        if (spec.Classes.Where(c => c < 0 || c >= classCount).Select(c => (int?)c).FirstOrDefault() is int bad)
            throw new RequestRejectedException(RequestProblem.BadRequest, $"class {bad} is out of range 0..{classCount - 1}");
        List<(string Id, int? Class)> images;
        if (spec.Images.Count > 0)
        {
            images = [];
            foreach (string id in spec.Images)
            {
                if (service.Images.Resolve(id) == null) throw new RequestRejectedException(RequestProblem.NotFound, $"no image '{id}' in the image set");
                images.Add((id, service.Images.Label(id)?.ClassIndex));
            }
        }
        else
        {
            var all = service.Images.List();
            images = [.. all.Where(i => spec.Classes.Count == 0 || spec.Classes.Contains(i.ClassIndex)).Select(i => (i.Id, (int?)i.ClassIndex))];
        }
        var items = new List<(string, ExplanationJobSpec)>();
        foreach (string model in spec.Models)
            foreach (string method in spec.Methods)
            {
                // Validates model and method (and fills in default settings) once per pair.
                service.Runner.Resolve(model, method, null, null, spec.Seed, null, 0);
                foreach (var (image, cls) in images)
                    items.Add(($"{model}|{method}|{image}", new ExplanationJobSpec { Model = model, Method = method, Image = image, ClassIndex = cls, Seed = spec.Seed }));
            }
        if (items.Count == 0) throw new RequestRejectedException(RequestProblem.BadRequest, "the selection has no images");
        return items;
    }

    // Sorted and without duplicates, so that the same selection written differently is the same batch.
    private static PrecomputeSpec Normalised(PrecomputeSpec s) => new()
    {
        Models = [.. s.Models.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)],
        Methods = [.. s.Methods.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)],
        Classes = [.. s.Classes.Distinct().Order()],
        Images = [.. s.Images.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)],
        Seed = s.Seed,
    };
}
