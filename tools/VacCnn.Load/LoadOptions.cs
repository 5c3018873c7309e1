using System.Globalization;
using System.Net;

namespace VacCnn.Load;

/// <summary>Command-line options of the load tool.</summary>
public sealed record LoadOptions(
    Uri BaseUrl,
    string Mode,
    int Clients,
    TimeSpan Duration,
    IReadOnlyList<string> Paths,
    int Burst,
    int? HostPid,
    string? Cookie,
    bool Json,
    IReadOnlyList<string>? HeavyPaths = null,
    int Heavy = 8,
    int Samples = 30)
{
    /// <summary>Usage text.</summary>
    public const string Usage = """
        vaccnn-load steady --url http://127.0.0.1:5000 --clients 64 --seconds 60 --path /api/overview [--path ...]
        vaccnn-load burst  --url http://127.0.0.1:5000 --burst 200 --path "/api/explanations?model=M&image=I&method=gradcam&class={i}"
        vaccnn-load lanes  --url http://127.0.0.1:5000 --samples 30 --heavy 8
                           --path "/api/explanations?model=M&image=I&method=gradcam&seed={i}&wait=10000"
                           --heavy-path "/api/explanations?model=M&image=I&method=bbmp&seed={i}"
        common: [--pid <host pid> (peak RSS from /proc)] [--cookie "name=value"] [--json]
          steady: N clients loop over the paths for T seconds; latency percentiles and errors.
          burst:  fires N requests at once ({i} in a path becomes 0..N-1, so each is a distinct, uncached request)
                  and counts the answers by status (200/202/429/503/other).
          lanes:  the time until a cheap explanation is done (each --path request until 200, {i} unique per run so
                  nothing is cached), first alone, then while --heavy expensive ones (--heavy-path) are queued or
                  running; p50/p95 of both and how many expensive ones were still pending at the end.
        Only loopback hosts are accepted: this tool is for measuring your own machine.
        """;

    /// <summary>Parses <paramref name="args"/>; throws <see cref="ArgumentException"/> with a one-line reason.</summary>
    public static LoadOptions Parse(string[] args)
    {
        if (args.Length == 0 || args[0] is not ("steady" or "burst" or "lanes")) throw new ArgumentException("first argument must be 'steady', 'burst' or 'lanes'");
        string mode = args[0];
        string url = "http://127.0.0.1:5000";
        int clients = 64, burst = 100;
        double seconds = 60;
        int? pid = null;
        string? cookie = null;
        bool json = false;
        var paths = new List<string>();
        var heavyPaths = new List<string>();
        int heavy = 8, samples = 30;
        for (int i = 1; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--url": url = Value(); break;
                case "--clients": clients = Int(Value(), "--clients", 1, 4096); break;
                case "--seconds": seconds = double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s > 0 && s <= 3600 ? s : throw new ArgumentException("--seconds must be in (0, 3600]"); break;
                case "--burst": burst = Int(Value(), "--burst", 1, 100_000); break;
                case "--path": paths.Add(Value()); break;
                case "--heavy-path": heavyPaths.Add(Value()); break;
                case "--heavy": heavy = Int(Value(), "--heavy", 1, 1000); break;
                case "--samples": samples = Int(Value(), "--samples", 1, 10_000); break;
                case "--pid": pid = Int(Value(), "--pid", 1, int.MaxValue); break;
                case "--cookie": cookie = Value(); break;
                case "--json": json = true; break;
                default: throw new ArgumentException($"unknown option '{args[i]}'");
            }
        }
        if (!Uri.TryCreate(url, UriKind.Absolute, out var baseUrl) || baseUrl.Scheme is not ("http" or "https"))
            throw new ArgumentException($"--url '{url}' is not an http(s) URL");
        if (!IsLoopback(baseUrl)) throw new ArgumentException($"--url '{url}' is not on this machine; only 127.0.0.1, ::1 or localhost are allowed");
        if (paths.Count == 0) throw new ArgumentException("give at least one --path");
        if (paths.Concat(heavyPaths).Any(p => !p.StartsWith('/'))) throw new ArgumentException("paths must start with '/'");
        if (mode == "lanes" && heavyPaths.Count == 0) throw new ArgumentException("lanes needs at least one --heavy-path");
        return new LoadOptions(baseUrl, mode, clients, TimeSpan.FromSeconds(seconds), paths, burst, pid, cookie, json, heavyPaths, heavy, samples);
    }

    private static bool IsLoopback(Uri u) =>
        u.IsLoopback || (IPAddress.TryParse(u.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    private static int Int(string text, string name, int min, int max) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= min && v <= max
            ? v : throw new ArgumentException($"{name} must be a whole number from {min} to {max}");
}
