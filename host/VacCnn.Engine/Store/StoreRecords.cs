namespace VacCnn.Engine.Store;

/// <summary>Lifecycle of an evaluation run or shard.</summary>
public static class RunStates
{
    /// <summary>Planned, not started.</summary>
    public const string Pending = "pending";
    /// <summary>Some work done, not finished (also after a crash).</summary>
    public const string Running = "running";
    /// <summary>All shards done and the results assembled.</summary>
    public const string Done = "done";
    /// <summary>Stopped by an error that retrying will not fix.</summary>
    public const string Failed = "failed";
}

/// <summary>One evaluation of one model over one image set, keyed by both fingerprints.</summary>
public sealed record RunInfo(
    string RunId,
    string ModelId,
    string ModelFingerprint,
    string ImageSetFingerprint,
    string ImagesRoot,
    int TotalImages,
    int ShardSize,
    int ShardCount,
    string State,
    DateTime CreatedUtc,
    DateTime UpdatedUtc,
    string? Error);

/// <summary>A contiguous slice of the image set: the unit of work that survives a crash.</summary>
public sealed record ShardInfo(string RunId, int Index, int Start, int Count, string State, int ImagesDone, int Skipped, double Seconds, DateTime? FinishedUtc)
{
    /// <summary>How many times a worker took this shard (more than one after a crash or a lost lease).</summary>
    public int Attempts { get; init; }
    /// <summary>The current or last lease holder (<see cref="ShardOwner"/> id), or null.</summary>
    public string? Owner { get; init; }
    /// <summary>When the holder's lease runs out (UTC), or null.</summary>
    public DateTime? LeaseUntilUtc { get; init; }

    /// <summary>True while a live worker holds the lease (it has not run out and its process, when on this machine, runs).</summary>
    public bool HeldNow => State == RunStates.Running && ShardOwner.HoldsLease(Owner, LeaseUntilUtc, DateTime.UtcNow);
}

/// <summary>How far a run is.</summary>
public sealed record RunProgress(
    RunInfo Run,
    int ShardsDone,
    int ImagesDone,
    int Skipped,
    double ImagesPerSecond,
    TimeSpan? Eta)
{
    /// <summary>Fraction done in [0, 1].</summary>
    public double Fraction => Run.TotalImages == 0 ? 1 : Math.Min(1, (double)(ImagesDone + Skipped) / Run.TotalImages);
}

/// <summary>Accuracy for one group of images (all, a root class, a leaf class).</summary>
public sealed record AccuracyRow(string Scope, string Key, int Count, double Top1, double Top5);

/// <summary>One evaluated image: ground truth and the model's top-5.</summary>
public sealed record PredictionRow(int ImageIndex, string RelativePath, int Label, int[] Top5, float[] Top5Probabilities)
{
    /// <summary>Top-1 correct.</summary>
    public bool Top1Correct => Top5.Length > 0 && Top5[0] == Label;
    /// <summary>Top-5 correct.</summary>
    public bool Top5Correct => Top5.Contains(Label);
}

/// <summary>A file skipped during evaluation, and why.</summary>
public sealed record SkipRow(int ImageIndex, string RelativePath, string Reason);

/// <summary>The headline numbers of a finished run.</summary>
public sealed record EvaluationSummary(
    string Model,
    string RunId,
    int Images,
    int Skipped,
    double Top1,
    double Top5,
    IReadOnlyDictionary<string, double> PerRoot);

/// <summary>A recurring schedule: an evaluation (of one model, or all when <paramref name="ModelId"/> is null), or a
/// precompute batch of explanations when <paramref name="Precompute"/> holds its selection (JSON).</summary>
public sealed record ScheduleInfo(string Id, string Cron, string? ModelId, DateTime CreatedUtc, string? Precompute = null);

/// <summary>What <see cref="ResultStore.PlanSharedPasses"/> found: the passes to run (a shard index and the runs that
/// still need it) and the runs with nothing left to do.</summary>
public sealed record SharedPasses(IReadOnlyList<(int Shard, string[] RunIds)> Passes, IReadOnlyList<string> Complete);
