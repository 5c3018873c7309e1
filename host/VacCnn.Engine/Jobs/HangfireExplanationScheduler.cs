using System.Collections.Concurrent;
using System.Diagnostics;
using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using VacCnn.Engine.Explanations;

namespace VacCnn.Engine.Jobs;

/// <summary>
/// Explanations as Hangfire jobs (<see cref="ExplanationJobs.Explain"/>) in the queue of their lane, so that any
/// process with jobs computes them — this one, or the workers of a PostgreSQL cluster when this is a pages-only host.
/// Remembers what it submitted (key → job id) to schedule identical requests once, reads each job's state from the job
/// storage (so it sees work finished by other processes), and refuses new work when <see cref="Capacity"/> pieces wait
/// in its lane (each lane has its own places, so expensive requests never fill the interactive lane's).
/// Durations are learned from finished maps (their <c>Millis</c>), for progress and Retry-After.
/// </summary>
public sealed class HangfireExplanationScheduler : IExplanationScheduler
{
    // Job states are read from the storage at most this often per piece (a page polls several per second).
    private static readonly TimeSpan RefreshEvery = TimeSpan.FromMilliseconds(20);

    private readonly IBackgroundJobClient _jobs;
    private readonly JobStorage _storage;
    private readonly TimeSpan _keepFailed;
    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<string, Pending> _pending = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, double> _millis = new(StringComparer.Ordinal);
    private long _sequence;

    /// <summary>Schedules through <paramref name="jobs"/> and reads states from <paramref name="storage"/> (the same storage).</summary>
    /// <param name="capacity">Pieces that may wait.</param>
    /// <param name="keepFailedFor">How long a failure is reported before an identical request is tried again.</param>
    public HangfireExplanationScheduler(IBackgroundJobClient jobs, JobStorage storage, int capacity, TimeSpan? keepFailedFor = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _jobs = jobs;
        _storage = storage;
        Capacity = capacity;
        _keepFailed = keepFailedFor ?? TimeSpan.FromSeconds(30);
    }

    private sealed class Pending(string key, string jobId, string estimateKey, ExplanationLane lane, long sequence)
    {
        public string Key { get; } = key;
        public string JobId { get; } = jobId;
        public string EstimateKey { get; } = estimateKey;
        public ExplanationLane Lane { get; } = lane;
        public long Sequence { get; } = sequence;
        public ExplanationState State { get; set; } = ExplanationState.Queued;
        public bool Vanished { get; set; }
        public DateTime? StartedUtc { get; set; }
        public DateTime? FailedUtc { get; set; }
        public string? Error { get; set; }
        public long RefreshedAt { get; set; } = Stopwatch.GetTimestamp();
    }

    /// <inheritdoc />
    public int Capacity { get; }

    /// <inheritdoc />
    public int Waiting
    {
        get
        {
            lock (_gate)
            {
                foreach (var p in _pending.Values) Refresh(p);
                return _pending.Values.Count(p => p.State == ExplanationState.Queued);
            }
        }
    }

    private int CountWaiting(ExplanationLane lane) => _pending.Values.Count(p => p.Lane == lane && p.State == ExplanationState.Queued);

    /// <inheritdoc />
    public ExplanationWork? Submit(ExplanationTarget target, ExplanationLane lane, string estimateKey)
    {
        lock (_gate)
        {
            if (_pending.TryGetValue(target.Key, out var existing))
            {
                Refresh(existing);
                if (!existing.Vanished && !FailedLongAgo(existing)) return Describe(existing);
                _pending.TryRemove(target.Key, out _);
            }
            if (CountWaiting(lane) >= Capacity)
            {
                foreach (var p in _pending.Values) Refresh(p, force: true);
                ForgetOver();
                if (CountWaiting(lane) >= Capacity) return null;
            }
            var spec = ExplanationJobSpec.Of(target);
            string id = _jobs.Create(Job.FromExpression<ExplanationJobs>(j => j.Explain(spec, CancellationToken.None)),
                new EnqueuedState(ExplanationLanes.QueueOf(lane)));
            var added = new Pending(target.Key, id, estimateKey, lane, Interlocked.Increment(ref _sequence));
            _pending[target.Key] = added;
            return Describe(added);
        }
    }

    /// <inheritdoc />
    public ExplanationWork? Find(string key)
    {
        if (!_pending.TryGetValue(key, out var p)) return null;
        lock (_gate) Refresh(p);
        return Describe(p);
    }

    /// <inheritdoc />
    public void Finished(string key, string estimateKey, double millis)
    {
        if (!_pending.TryRemove(key, out _)) return;
        // Exponential moving average: adapts when the machine gets busier or quieter.
        _millis.AddOrUpdate(estimateKey, millis, (_, old) => 0.7 * old + 0.3 * millis);
    }

    /// <inheritdoc />
    public double? ExpectedMillis(string estimateKey) => _millis.TryGetValue(estimateKey, out double m) ? m : null;

    /// <inheritdoc />
    public int RetryAfterFullMs() => (int)Math.Clamp(_millis.Values.DefaultIfEmpty(2000).Average(), 1000, 30_000);

    // Finished, vanished and long-failed pieces whose requester never came back are dropped (bounded memory).
    private void ForgetOver()
    {
        foreach (var (key, p) in _pending)
            if (p.Vanished || p.State == ExplanationState.Done || FailedLongAgo(p)) _pending.TryRemove(key, out _);
    }

    private bool FailedLongAgo(Pending p) => p.State == ExplanationState.Failed && DateTime.UtcNow - p.FailedUtc > _keepFailed;

    // Reads the job's state from the storage: the job may have run in another process.
    private void Refresh(Pending p, bool force = false)
    {
        if (p.State is ExplanationState.Done or ExplanationState.Failed || p.Vanished) return;
        if (!force && Stopwatch.GetElapsedTime(p.RefreshedAt) < RefreshEvery) return;
        p.RefreshedAt = Stopwatch.GetTimestamp();
        using var connection = _storage.GetConnection();
        var data = connection.GetJobData(p.JobId);
        if (data == null) { p.Vanished = true; return; } // expired or removed: submit again
        string? name = data.State;
        if (name == ProcessingState.StateName)
        {
            p.State = ExplanationState.Running;
            p.StartedUtc ??= StartedAt(connection.GetStateData(p.JobId)) ?? DateTime.UtcNow;
        }
        else if (name == SucceededState.StateName) p.State = ExplanationState.Done;
        else if (name == FailedState.StateName)
        {
            var state = connection.GetStateData(p.JobId);
            Fail(p, state?.Data is { } d && d.TryGetValue("ExceptionMessage", out string? message) ? message : state?.Reason ?? "the job failed");
        }
        else if (name == DeletedState.StateName) Fail(p, "the job was deleted (Hangfire dashboard)");
        else p.State = ExplanationState.Queued; // enqueued, scheduled or awaiting
    }

    private static void Fail(Pending p, string error)
    {
        p.State = ExplanationState.Failed;
        p.FailedUtc = DateTime.UtcNow;
        p.Error = error;
    }

    private static DateTime? StartedAt(Hangfire.Storage.StateData? state) =>
        state?.Data is { } d && d.TryGetValue("StartedAt", out string? text) ? JobHelper.DeserializeNullableDateTime(text) : null;

    private ExplanationWork Describe(Pending p)
    {
        double expected = _millis.GetValueOrDefault(p.EstimateKey, 2000);
        double progress = 0, wait = 0;
        switch (p.State)
        {
            case ExplanationState.Running:
                double elapsed = Math.Max(0, (DateTime.UtcNow - (p.StartedUtc ?? DateTime.UtcNow)).TotalMilliseconds);
                progress = _millis.ContainsKey(p.EstimateKey) ? Math.Min(0.95, elapsed / expected) : 0.9 * (1 - Math.Exp(-elapsed / 5000));
                wait = expected - elapsed;
                break;
            case ExplanationState.Queued:
                // Those ahead in the same lane, each about as long as this one (a guess across kinds, good enough to poll by).
                long ahead = _pending.Values.Count(o => o.Lane == p.Lane && o.State == ExplanationState.Queued && o.Sequence < p.Sequence);
                wait = expected * (ahead + 1);
                break;
        }
        int floor = p.Lane == ExplanationLane.Interactive ? 50 : 250;
        return new ExplanationWork(p.State, p.Lane, progress, (int)Math.Clamp(wait, floor, 5000), p.Error, p.JobId);
    }
}
