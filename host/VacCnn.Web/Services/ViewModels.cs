namespace VacCnn.Web.Services;

/// <summary>The configured image set as the pages show it: its identity, or why it cannot be used.</summary>
public sealed record ImageSetView(string? Root, int Images, int Unlabelled, string? Layout, string? Fingerprint, string? Error);

/// <summary>One loaded model with its accuracy on the current image set (null until a matching run is done).</summary>
public sealed record ModelView(
    string Id,
    string Name,
    string Family,
    double ParametersMillions,
    double GigaFlops,
    string Input,
    int ClassCount,
    string Status,
    double? Top1,
    double? Top5,
    int? EvaluatedImages,
    string? RunId,
    IReadOnlyList<string> Warnings);

/// <summary>A model that failed to load, and why.</summary>
public sealed record FailedModelView(string Id, string Location, string Error);

/// <summary>Everything on the models page.</summary>
public sealed record ModelsOverview(string ModelsRoot, ImageSetView ImageSet, IReadOnlyList<ModelView> Models, IReadOnlyList<FailedModelView> Failed);

/// <summary>One evaluation run with its progress.</summary>
public sealed record RunView(
    string RunId,
    string ModelId,
    string State,
    int ShardsDone,
    int ShardCount,
    int ImagesDone,
    int TotalImages,
    int Skipped,
    double ImagesPerSecond,
    double? EtaSeconds,
    double Fraction,
    string? Error,
    string ImagesRoot,
    DateTime CreatedUtc,
    DateTime UpdatedUtc)
{
    /// <summary>The workers running shards of this run now, with the shards each holds.</summary>
    public IReadOnlyList<WorkerView> Workers { get; init; } = [];
}

/// <summary>A precompute batch of explanations with its progress.</summary>
/// <param name="Selection">What it explains: methods × models × images, in words.</param>
/// <param name="Failures">The first failed explanations with their reasons.</param>
public sealed record BatchView(string Id, string Selection, string State, int Total, int Done, int Failed, double Fraction,
    double? PerSecond, double? EtaSeconds, DateTime StartedUtc, DateTime UpdatedUtc, IReadOnlyList<BatchFailureView> Failures);

/// <summary>One explanation of a batch that failed, and why.</summary>
public sealed record BatchFailureView(string Item, string Error);

/// <summary>A worker process holding shard leases of a run.</summary>
/// <param name="Worker">Machine and process id.</param>
/// <param name="Shards">Shard indexes it is running.</param>
public sealed record WorkerView(string Worker, IReadOnlyList<int> Shards);

/// <summary>One shard of a run.</summary>
/// <param name="Worker">Who holds (or last held) its lease: machine and process id.</param>
public sealed record ShardView(int Index, int Start, int Count, string State, int ImagesDone, int Skipped, double Seconds, DateTime? FinishedUtc,
    string? Worker);

/// <summary>A file skipped during a run.</summary>
public sealed record SkipView(int ImageIndex, string RelativePath, string Reason);

/// <summary>A run with its shards and skipped files.</summary>
public sealed record RunDetailView(RunView Run, IReadOnlyList<ShardView> Shards, IReadOnlyList<SkipView> Skips);

/// <summary>A saved recurring schedule and, when Hangfire knows it, its next occurrence.</summary>
/// <param name="What">What it runs, in words: "evaluate all models", "evaluate ID" or "precompute …".</param>
public sealed record ScheduleView(string Id, string Cron, string? ModelId, DateTime CreatedUtc, DateTime? NextUtc, string? Error, string What);

/// <summary>One plugin folder: status and what it provides.</summary>
public sealed record PluginView(string Name, string Folder, string Status, string? Error, IReadOnlyList<string> ModelSources,
    IReadOnlyList<string> Explainers, IReadOnlyList<string> Metrics);

/// <summary>Everything on the plugins page.</summary>
public sealed record PluginsOverview(string? Folder, IReadOnlyList<PluginView> Plugins);

/// <summary>A background job that failed after its retries (e.g. a shard whose images cannot be decoded).</summary>
public sealed record FailedJobView(string JobId, string Job, string? Exception, DateTime? FailedUtc);
