using Hangfire;
using Hangfire.Storage;
using VacCnn.Engine;
using VacCnn.Engine.Jobs;
using VacCnn.Engine.Store;

namespace VacCnn.Web.Services;

/// <summary>
/// Read-only projections of engine state for pages and JSON endpoints, so both show the same numbers. Each part
/// is guarded: one broken model or an unreadable image set degrades one row, never the whole page.
/// </summary>
public sealed class VacCnnQueries(VacCnnEngine engine, ImageSetProvider images, JobStorage jobStorage, ILogger<VacCnnQueries> logger)
{
    /// <summary>True when <paramref name="modelId"/> is a loaded model.</summary>
    public bool IsLoadedModel(string? modelId) => modelId != null && engine.Models.Find(modelId) != null;

    /// <summary>Ids of the loaded models.</summary>
    public IReadOnlyList<string> LoadedModelIds() => engine.Models.Classifiers.Select(c => c.Card.Id).ToList();

    /// <summary>The configured image set as it is on disk now.</summary>
    public ImageSetView ImageSet()
    {
        string root = engine.Options.Images;
        if (string.IsNullOrWhiteSpace(root)) return new ImageSetView(null, 0, 0, null, null, "no image set configured (VacCnn:Images)");
        try
        {
            var set = images.Current();
            return new ImageSetView(set.Root, set.Images.Count, set.Unlabelled.Count, set.Layout, set.Fingerprint, null);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "image set {Root} cannot be opened", root);
            return new ImageSetView(root, 0, 0, null, null, $"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>
    /// Loaded models with accuracy from the run keyed by the model's current fingerprint and the current image set's
    /// fingerprint, so a result is shown only while neither changed since it was computed.
    /// </summary>
    public ModelsOverview Models()
    {
        var set = ImageSet();
        var rows = new List<ModelView>();
        foreach (var classifier in engine.Models.Classifiers)
        {
            var card = classifier.Card;
            string status = "not evaluated";
            double? top1 = null, top5 = null;
            int? count = null;
            string? runId = null;
            try
            {
                if (set.Fingerprint != null)
                {
                    string id = ResultStore.RunIdFor(engine.Evaluation.ModelFingerprint(card.Id), set.Fingerprint);
                    var run = engine.Store.GetRun(id);
                    if (run != null)
                    {
                        runId = run.RunId;
                        if (run.State == RunStates.Done && engine.Store.GetSummary(run.RunId) is { } summary)
                        {
                            (status, top1, top5, count) = ("evaluated", summary.Top1, summary.Top5, summary.Images);
                        }
                        else if (run.State == RunStates.Failed) status = "failed: " + (run.Error ?? "unknown error");
                        else status = $"evaluating ({engine.Store.GetProgress(run.RunId).Fraction:P0})";
                    }
                }
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "cannot look up results of model {Model}", card.Id);
                status = $"results unavailable: {e.Message}";
            }
            rows.Add(new ModelView(card.Id, card.DisplayName, card.Family, card.Parameters / 1e6, card.GigaFlops,
                $"{card.Preprocessing.CropWidth}×{card.Preprocessing.CropHeight}", card.ClassCount, status, top1, top5, count, runId,
                card.Warnings));
        }
        var failed = engine.Models.Failures.Select(f => new FailedModelView(f.Id, f.Location, f.Error ?? "")).ToList();
        return new ModelsOverview(engine.Models.ModelsRoot, set, rows, failed);
    }

    /// <summary>All runs, newest first, with progress.</summary>
    public IReadOnlyList<RunView> Runs() => engine.Store.ListRuns().Select(r => ToView(r)).ToList();

    /// <summary>Precompute batches of explanations, newest first.</summary>
    public IReadOnlyList<BatchView> Batches() => engine.Store.ListBatches().Select(ToView).ToList();

    /// <summary>One precompute batch, or null when unknown.</summary>
    public BatchView? Batch(string id) => engine.Store.GetBatch(id) is { } b ? ToView(b) : null;

    private BatchView ToView(BatchInfo b) => new(b.Id, ExplanationPrecompute.Describe(b.Spec), b.State, b.Total, b.Done, b.Failed,
        b.Total == 0 ? 0 : (b.Done + b.Failed) / (double)b.Total, b.Rate, b.Eta?.TotalSeconds, b.StartedUtc, b.UpdatedUtc,
        b.Failed == 0 ? [] : [.. engine.Store.BatchFailures(b.Id).Select(f => new BatchFailureView(f.Item, f.Error))]);

    /// <summary>One run with shards and skipped files, or null when unknown.</summary>
    public RunDetailView? Run(string runId)
    {
        var run = engine.Store.GetRun(runId);
        if (run == null) return null;
        var shards = engine.Store.GetShards(runId)
            .Select(s => new ShardView(s.Index, s.Start, s.Count, s.State, s.ImagesDone, s.Skipped, s.Seconds, s.FinishedUtc,
                s.Owner is { } o ? ShardOwner.WorkerOf(o) : null)).ToList();
        var skips = Skips(runId);
        return new RunDetailView(ToView(run), shards, skips);
    }

    /// <summary>Files skipped in a run.</summary>
    public IReadOnlyList<SkipView> Skips(string runId) =>
        engine.Store.GetSkips(runId).Select(s => new SkipView(s.ImageIndex, s.RelativePath, s.Reason)).ToList();

    /// <summary>Saved schedules, with the next occurrence Hangfire computed (if it has them registered).</summary>
    public IReadOnlyList<ScheduleView> Schedules()
    {
        Dictionary<string, RecurringJobDto> registered = [];
        try
        {
            using var connection = jobStorage.GetConnection();
            registered = connection.GetRecurringJobs().ToDictionary(j => j.Id, StringComparer.Ordinal);
        }
        catch (Exception e) { logger.LogWarning(e, "cannot read recurring jobs from Hangfire"); }
        return engine.Store.ListSchedules().Select(s =>
        {
            var job = registered.GetValueOrDefault(s.Id);
            string? error = job == null ? "not registered with Hangfire" : job.Error;
            string what = s.Precompute is { } spec ? "precompute " + ExplanationPrecompute.Describe(spec) : $"evaluate {s.ModelId ?? "all models"}";
            return new ScheduleView(s.Id, s.Cron, s.ModelId, s.CreatedUtc, job?.NextExecution, error, what);
        }).ToList();
    }

    /// <summary>
    /// Jobs Hangfire gave up on (most recent first, at most <paramref name="count"/>) and how many there are in all: a
    /// shard that keeps failing leaves its run "running", and this is where the reason shows.
    /// </summary>
    public (long Total, IReadOnlyList<FailedJobView> Recent) FailedJobs(int count = 5)
    {
        try
        {
            var monitor = jobStorage.GetMonitoringApi();
            var recent = monitor.FailedJobs(0, count).Select(kv => new FailedJobView(kv.Key,
                kv.Value.Job is { } job ? $"{job.Method.Name}({string.Join(", ", job.Args)})" : "(unknown job)",
                kv.Value.ExceptionMessage, kv.Value.FailedAt)).ToList();
            return (monitor.FailedCount(), recent);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "cannot read failed jobs from Hangfire");
            return (0, []);
        }
    }

    /// <summary>Plugins found in the plugins folder.</summary>
    public PluginsOverview Plugins() => new(engine.Plugins.Folder, engine.Plugins.Plugins.Select(p => new PluginView(
        p.Name, p.Folder, p.Error == null ? "loaded" : p.ModelSources.Count + p.Explainers.Count + p.Metrics.Count > 0 ? "loaded with errors" : "failed",
        p.Error, p.ModelSources.Select(s => s.Name).ToList(), p.Explainers.Select(e => e.Id).ToList(), p.Metrics.Select(m => m.Id).ToList())).ToList());

    private RunView ToView(RunInfo r)
    {
        try
        {
            var p = engine.Store.GetProgress(r.RunId);
            // Which worker runs which shard: only asked of runs still in progress.
            var workers = r.State == RunStates.Done ? [] : engine.Store.GetShards(r.RunId)
                .Where(s => s.HeldNow)
                .GroupBy(s => ShardOwner.WorkerOf(s.Owner!), StringComparer.Ordinal)
                .OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => new WorkerView(g.Key, g.Select(s => s.Index).Order().ToList())).ToList();
            return new RunView(r.RunId, r.ModelId, r.State, p.ShardsDone, r.ShardCount, p.ImagesDone, r.TotalImages, p.Skipped,
                p.ImagesPerSecond, p.Eta?.TotalSeconds, p.Fraction, r.Error, r.ImagesRoot, r.CreatedUtc, r.UpdatedUtc) { Workers = workers };
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "cannot read progress of run {Run}", r.RunId);
            return new RunView(r.RunId, r.ModelId, r.State, 0, r.ShardCount, 0, r.TotalImages, 0, 0, null, 0,
                r.Error ?? $"progress unavailable: {e.Message}", r.ImagesRoot, r.CreatedUtc, r.UpdatedUtc);
        }
    }
}
