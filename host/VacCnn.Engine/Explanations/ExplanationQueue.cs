using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;

namespace VacCnn.Engine.Explanations;

/// <summary>Where a queued explanation stands.</summary>
public enum ExplanationState
{
    /// <summary>Waiting for a worker.</summary>
    Queued,
    /// <summary>Being computed.</summary>
    Running,
    /// <summary>Finished; the result is in the cache.</summary>
    Done,
    /// <summary>Failed; <see cref="ExplanationJob.Error"/> says why.</summary>
    Failed,
}

/// <summary>One piece of queued work, shared by every request for the same key.</summary>
public sealed class ExplanationJob
{
    private readonly TaskCompletionSource<ExplanationResult> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _state;
    private long _startedTimestamp;

    internal ExplanationJob(string key, string estimateKey, long sequence, Func<CancellationToken, ExplanationResult> work)
    {
        Key = key;
        EstimateKey = estimateKey;
        Sequence = sequence;
        Work = work;
    }

    /// <summary>The cache key of the result.</summary>
    public string Key { get; }

    /// <summary>Jobs with the same estimate key take about as long (model, method and settings).</summary>
    public string EstimateKey { get; }

    internal long Sequence { get; }

    internal Func<CancellationToken, ExplanationResult> Work { get; }

    /// <summary>Current state.</summary>
    public ExplanationState State => (ExplanationState)Volatile.Read(ref _state);

    /// <summary>Why it failed, when it did.</summary>
    public string? Error { get; private set; }

    /// <summary>When it failed (UTC), when it did.</summary>
    public DateTime? FailedUtc { get; private set; }

    /// <summary>Time since a worker took it (zero while queued).</summary>
    public TimeSpan Elapsed => State == ExplanationState.Queued ? TimeSpan.Zero : Stopwatch.GetElapsedTime(Volatile.Read(ref _startedTimestamp));

    /// <summary>Completes with the result, or faults with the error.</summary>
    public Task<ExplanationResult> Completion => _done.Task;

    internal void MarkRunning()
    {
        Volatile.Write(ref _startedTimestamp, Stopwatch.GetTimestamp());
        Volatile.Write(ref _state, (int)ExplanationState.Running);
    }

    internal void MarkDone(ExplanationResult result)
    {
        Volatile.Write(ref _state, (int)ExplanationState.Done);
        _done.TrySetResult(result);
    }

    internal void MarkFailed(Exception error)
    {
        Error = error is OperationCanceledException ? "cancelled (the server is shutting down)" : error.Message;
        FailedUtc = DateTime.UtcNow;
        Volatile.Write(ref _state, (int)ExplanationState.Failed);
        _done.TrySetException(error);
        _done.Task.Exception?.Handle(_ => true); // observed here: nobody has to await a job
    }
}

/// <summary>What <see cref="ExplanationQueue.Enqueue"/> did.</summary>
/// <param name="Job">The job (new, or the identical one already pending / recently failed); null when the queue was full.</param>
/// <param name="Added">True when a new job was queued.</param>
public sealed record EnqueueAnswer(ExplanationJob? Job, bool Added)
{
    /// <summary>The queue was full: nothing was added and the caller should retry later (HTTP 429).</summary>
    public bool Full => Job == null;
}

/// <summary>
/// A bounded queue of explanations with a fixed number of worker threads (heavy work never runs on a request
/// thread). Identical requests (same key) share one job; when <see cref="Capacity"/> jobs are already waiting, new ones
/// are refused instead of growing memory. Progress is an estimate from earlier jobs of the same kind, because
/// explainers do not report progress.
/// </summary>
public sealed class ExplanationQueue : IDisposable
{
    private readonly Channel<ExplanationJob> _channel;
    private readonly ConcurrentDictionary<string, ExplanationJob> _jobs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, double> _millis = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Thread> _threads = [];
    private readonly TimeSpan _keepFailed;
    private long _sequence;
    private long _started;
    private int _waiting;

    /// <summary>Starts <paramref name="workers"/> worker threads.</summary>
    /// <param name="capacity">Jobs that may wait (running ones not counted).</param>
    /// <param name="workers">Jobs computed at once.</param>
    /// <param name="keepFailedFor">How long a failure is reported before an identical request is tried again.</param>
    public ExplanationQueue(int capacity, int workers, TimeSpan? keepFailedFor = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        Capacity = capacity;
        Workers = workers;
        _keepFailed = keepFailedFor ?? TimeSpan.FromSeconds(30);
        _channel = Channel.CreateBounded<ExplanationJob>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.Wait, // TryWrite then answers false instead of dropping anything
            SingleWriter = false,
            SingleReader = workers == 1,
        });
        for (int i = 0; i < workers; i++)
        {
            var t = new Thread(WorkerLoop) { IsBackground = true, Name = $"vaccnn-explain-{i}" };
            _threads.Add(t);
            t.Start();
        }
    }

    /// <summary>Jobs that may wait.</summary>
    public int Capacity { get; }

    /// <summary>Worker threads.</summary>
    public int Workers { get; }

    /// <summary>Jobs waiting now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>
    /// Queues <paramref name="work"/> under <paramref name="key"/> unless an identical job is queued, running or
    /// failed less than a short while ago (then that job is returned); answers <see cref="EnqueueAnswer.Full"/> when
    /// <see cref="Capacity"/> jobs are waiting.
    /// </summary>
    public EnqueueAnswer Enqueue(string key, string estimateKey, Func<CancellationToken, ExplanationResult> work)
    {
        lock (_gate)
        {
            if (_jobs.TryGetValue(key, out var existing))
            {
                // A job that just finished is returned too (its result is also in the cache by now).
                if (!FailedLongAgo(existing)) return new EnqueueAnswer(existing, false);
                _jobs.TryRemove(key, out _);
            }
            if (_stop.IsCancellationRequested) return new EnqueueAnswer(null, false);
            if (_jobs.Count > 4 * Capacity + 64) ForgetOldFailures();
            var job = new ExplanationJob(key, estimateKey, ++_sequence, work);
            if (!_channel.Writer.TryWrite(job)) return new EnqueueAnswer(null, false);
            Interlocked.Increment(ref _waiting);
            _jobs[key] = job;
            return new EnqueueAnswer(job, true);
        }
    }

    // Failures are kept only to be reported for a while; without this, many distinct failing requests would pile up.
    private void ForgetOldFailures()
    {
        foreach (var (key, job) in _jobs)
            if (FailedLongAgo(job)) _jobs.TryRemove(key, out _);
    }

    // A failure reported for longer than keepFailedFor: an identical request tries again.
    private bool FailedLongAgo(ExplanationJob job) => job.State == ExplanationState.Failed && DateTime.UtcNow - job.FailedUtc > _keepFailed;

    /// <summary>The pending or recently failed job for a key, or null.</summary>
    public ExplanationJob? Find(string key) => _jobs.GetValueOrDefault(key);

    /// <summary>Estimated fraction done, 0..0.95 (1 only once done): elapsed time over the mean duration of earlier
    /// jobs of the same kind, or a slowly saturating curve when none finished yet.</summary>
    public double Progress(ExplanationJob job)
    {
        switch (job.State)
        {
            case ExplanationState.Done: return 1;
            case ExplanationState.Queued: return 0;
            case ExplanationState.Failed: return 0;
        }
        double elapsed = job.Elapsed.TotalMilliseconds;
        return _millis.TryGetValue(job.EstimateKey, out double expected) && expected > 0
            ? Math.Min(0.95, elapsed / expected)
            : 0.9 * (1 - Math.Exp(-elapsed / 5000));
    }

    /// <summary>When it is worth asking again about <paramref name="job"/>, in milliseconds (0.25 to 5 s).</summary>
    public int RetryAfterMs(ExplanationJob job)
    {
        double expected = _millis.GetValueOrDefault(job.EstimateKey, 2000);
        double wait = job.State switch
        {
            ExplanationState.Queued => expected * Math.Max(1, job.Sequence - Interlocked.Read(ref _started)) / Workers,
            ExplanationState.Running => expected - job.Elapsed.TotalMilliseconds,
            _ => 0,
        };
        return (int)Math.Clamp(wait, 250, 5000);
    }

    /// <summary>When a refused request is worth trying again, in milliseconds: about one job's time.</summary>
    public int RetryAfterFullMs() => (int)Math.Clamp(_millis.Values.DefaultIfEmpty(2000).Average(), 1000, 30_000);

    private void WorkerLoop()
    {
        var reader = _channel.Reader;
        var token = _stop.Token;
        while (true)
        {
            ExplanationJob? job;
            try
            {
                if (!reader.TryRead(out job))
                {
                    if (!reader.WaitToReadAsync(token).AsTask().GetAwaiter().GetResult()) return;
                    continue;
                }
            }
            catch (OperationCanceledException) { return; }
            Interlocked.Decrement(ref _waiting);
            Interlocked.Exchange(ref _started, Math.Max(Interlocked.Read(ref _started), job.Sequence));
            job.MarkRunning();
            try
            {
                token.ThrowIfCancellationRequested();
                var result = job.Work(token);
                Learn(job.EstimateKey, job.Elapsed.TotalMilliseconds);
                job.MarkDone(result);
                _jobs.TryRemove(new KeyValuePair<string, ExplanationJob>(job.Key, job));
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                job.MarkFailed(e is AggregateException { InnerException: { } inner } ? inner : e);
            }
        }
    }

    // Exponential moving average: adapts when the machine gets busier or quieter.
    private void Learn(string key, double millis) =>
        _millis.AddOrUpdate(key, millis, (_, old) => 0.7 * old + 0.3 * millis);

    /// <summary>Stops the workers (running explainers are cancelled); queued jobs fail with "cancelled".</summary>
    public void Dispose()
    {
        if (_stop.IsCancellationRequested) return;
        lock (_gate) _stop.Cancel();
        _channel.Writer.TryComplete();
        foreach (var t in _threads) t.Join(TimeSpan.FromSeconds(10));
        while (_channel.Reader.TryRead(out var left)) left.MarkFailed(new OperationCanceledException());
    }
}
