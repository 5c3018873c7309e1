using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace VacCnn.Load;

/// <summary>What one run measured.</summary>
public sealed record LoadReport(
    string Mode,
    int Clients,
    double Seconds,
    long Requests,
    double RequestsPerSecond,
    double P50Ms,
    double P95Ms,
    double P99Ms,
    double MaxMs,
    long Errors,
    IReadOnlyDictionary<string, long> StatusCounts,
    long? PeakRssKiB,
    IReadOnlyList<string> ErrorSamples);

/// <summary>Runs the steady and burst modes.</summary>
public sealed class LoadRunner(LoadOptions options, HttpClient http)
{
    private readonly ConcurrentDictionary<string, long> _status = new();
    private readonly ConcurrentQueue<string> _errorSamples = new();
    private long _errors;

    /// <summary>N clients, each looping over the paths (staggered) until the time is up.</summary>
    public async Task<LoadReport> SteadyAsync(CancellationToken cancel)
    {
        var latencies = new ConcurrentBag<double>();
        var until = Stopwatch.StartNew();
        using var rss = RssSampler.Start(options.HostPid);
        var clients = Enumerable.Range(0, options.Clients).Select(c => Task.Run(async () =>
        {
            for (long k = c; until.Elapsed < options.Duration && !cancel.IsCancellationRequested; k++)
            {
                string path = options.Paths[(int)(k % options.Paths.Count)].Replace("{i}", k.ToString(CultureInfo.InvariantCulture));
                latencies.Add(await SendAsync(path, okStatuses: [200], cancel));
            }
        }, cancel)).ToList();
        await Task.WhenAll(clients);
        return Report("steady", options.Clients, until.Elapsed.TotalSeconds, latencies.ToArray(), rss.PeakKiB);
    }

    /// <summary>N distinct requests at once; 202/429/503 are expected answers of a bounded queue, not errors.</summary>
    public async Task<LoadReport> BurstAsync(CancellationToken cancel)
    {
        var sw = Stopwatch.StartNew();
        using var rss = RssSampler.Start(options.HostPid);
        using var gate = new SemaphoreSlim(0);
        var requests = Enumerable.Range(0, options.Burst).Select(i => Task.Run(async () =>
        {
            await gate.WaitAsync(cancel);
            string path = options.Paths[i % options.Paths.Count].Replace("{i}", i.ToString(CultureInfo.InvariantCulture));
            return await SendAsync(path, okStatuses: [200, 202, 429, 503], cancel);
        }, cancel)).ToList();
        gate.Release(options.Burst);
        var latencies = await Task.WhenAll(requests);
        return Report("burst", options.Burst, sw.Elapsed.TotalSeconds, latencies, rss.PeakKiB);
    }

    private async Task<double> SendAsync(string path, int[] okStatuses, CancellationToken cancel)
    {
        var sw = Stopwatch.StartNew();
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            if (options.Cookie != null) request.Headers.Add("Cookie", options.Cookie);
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancel);
            int code = (int)response.StatusCode;
            _status.AddOrUpdate(code.ToString(CultureInfo.InvariantCulture), 1, (_, n) => n + 1);
            if (!okStatuses.Contains(code)) Error($"{path}: HTTP {code}");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            _status.AddOrUpdate("failed", 1, (_, n) => n + 1);
            Error($"{path}: {e.GetType().Name}: {e.Message}");
        }
        return sw.Elapsed.TotalMilliseconds;
    }

    private void Error(string text)
    {
        Interlocked.Increment(ref _errors);
        if (_errorSamples.Count < 5) _errorSamples.Enqueue(text);
    }

    private LoadReport Report(string mode, int clients, double seconds, double[] latencies, long? peakRss)
    {
        Array.Sort(latencies);
        return new LoadReport(mode, clients, Math.Round(seconds, 2), latencies.Length, Math.Round(latencies.Length / seconds, 1),
            Percentile(latencies, 50), Percentile(latencies, 95), Percentile(latencies, 99), latencies.Length > 0 ? Math.Round(latencies[^1], 2) : 0,
            _errors, new SortedDictionary<string, long>(_status), peakRss, _errorSamples.ToList());
    }

    /// <summary>Nearest-rank percentile of sorted values (the smallest value with at least p% of values at or below it).</summary>
    public static double Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 0) return 0;
        int rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return Math.Round(sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)], 2);
    }
}

/// <summary>Samples a process's resident set every 50 ms from /proc/&lt;pid&gt;/status; keeps the peak.</summary>
internal sealed class RssSampler : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _peak;
    private readonly int? _pid;

    private RssSampler(int? pid)
    {
        _pid = pid;
        _loop = pid == null ? Task.CompletedTask : Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                Sample();
                try { await Task.Delay(50, _stop.Token); } catch (TaskCanceledException) { }
            }
        });
    }

    public static RssSampler Start(int? pid) => new(pid);

    /// <summary>Peak VmRSS seen, also counting the kernel's own high-water mark VmHWM; null without a pid.</summary>
    public long? PeakKiB
    {
        get
        {
            if (_pid == null) return null;
            Sample();
            return _peak;
        }
    }

    private void Sample()
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/{_pid}/status"))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal) || line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    long kib = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
                    if (kib > Interlocked.Read(ref _peak)) Interlocked.Exchange(ref _peak, kib);
                }
        }
        catch (IOException) { } // the process ended
    }

    public void Dispose()
    {
        _stop.Cancel();
        try { _loop.Wait(); } catch (AggregateException) { }
        _stop.Dispose();
    }
}
