using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace VacCnn.Load;

/// <summary>What the lanes mode measured: a cheap explanation's time to done, alone and beside expensive work.</summary>
public sealed record LaneReport(
    int Samples,
    int Heavy,
    double SoloP50Ms,
    double SoloP95Ms,
    double LoadedP50Ms,
    double LoadedP95Ms,
    double LoadedMaxMs,
    int HeavyPendingAtEnd,
    long Errors,
    IReadOnlyList<string> ErrorSamples);

/// <summary>
/// The interactive-lane check: cheap explanations one after another (each asked until it answers 200, so the time is
/// what a user waits), first with nothing else running, then after N distinct expensive requests were queued. Every
/// request gets a fresh {i} (a random base per run), so nothing comes from the store.
/// </summary>
public sealed class LaneRunner(LoadOptions options, HttpClient http)
{
    private readonly List<string> _errors = [];

    /// <summary>Runs both phases.</summary>
    public async Task<LaneReport> RunAsync(CancellationToken cancel)
    {
        long first = Random.Shared.NextInt64(1, 1_000_000_000);
        string Fill(string template, long i) => template.Replace("{i}", i.ToString(CultureInfo.InvariantCulture));

        var solo = new List<double>();
        for (int k = 0; k < options.Samples; k++) solo.Add(await UntilDoneAsync(Fill(options.Paths[k % options.Paths.Count], first + k), cancel));

        var heavyPaths = Enumerable.Range(0, options.Heavy)
            .Select(k => Fill(options.HeavyPaths![k % options.HeavyPaths!.Count], first + 100_000 + k)).ToList();
        foreach (string path in heavyPaths)
        {
            using var r = await http.GetAsync(path, cancel);
            if (r.StatusCode != HttpStatusCode.Accepted) Error($"{path}: expected 202 for an expensive request, got {(int)r.StatusCode}");
        }

        var loaded = new List<double>();
        for (int k = 0; k < options.Samples; k++)
            loaded.Add(await UntilDoneAsync(Fill(options.Paths[k % options.Paths.Count], first + 200_000 + k), cancel));

        int pending = 0;
        foreach (string path in heavyPaths)
        {
            using var r = await http.GetAsync(path, cancel);
            if (r.StatusCode == HttpStatusCode.Accepted) pending++;
        }
        double[] s = [.. solo.Order()], l = [.. loaded.Order()];
        return new LaneReport(options.Samples, options.Heavy, Round(LoadRunner.Percentile(s, 50)), Round(LoadRunner.Percentile(s, 95)),
            Round(LoadRunner.Percentile(l, 50)), Round(LoadRunner.Percentile(l, 95)), Round(l[^1]), pending, _errors.Count, _errors.Take(5).ToList());
    }

    // Milliseconds until the path answers 200 (polling 202s after the Retry-After the body gives).
    private async Task<double> UntilDoneAsync(string path, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(2))
        {
            using var r = await http.GetAsync(path, cancel);
            if (r.StatusCode == HttpStatusCode.OK) return clock.Elapsed.TotalMilliseconds;
            if (r.StatusCode != HttpStatusCode.Accepted)
            {
                Error($"{path}: {(int)r.StatusCode}");
                return clock.Elapsed.TotalMilliseconds;
            }
            await Task.Delay(50, cancel);
        }
        Error($"{path}: not done after 2 minutes");
        return clock.Elapsed.TotalMilliseconds;
    }

    private void Error(string message) => _errors.Add(message);

    private static double Round(double ms) => Math.Round(ms, 1);
}
