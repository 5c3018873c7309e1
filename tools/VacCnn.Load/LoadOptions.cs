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
    bool Json)
{
    /// <summary>Usage text.</summary>
    public const string Usage = """
        vaccnn-load steady --url http://127.0.0.1:5000 --clients 64 --seconds 60 --path /api/overview [--path ...]
        vaccnn-load burst  --url http://127.0.0.1:5000 --burst 200 --path "/api/explanations?model=M&image=I&method=gradcam&class={i}"
        common: [--pid <host pid> (peak RSS from /proc)] [--cookie "name=value"] [--json]
          steady: N clients loop over the paths for T seconds; latency percentiles and errors.
          burst:  fires N requests at once ({i} in a path becomes 0..N-1, so each is a distinct, uncached request)
                  and counts the answers by status (200/202/429/503/other).
        Only loopback hosts are accepted: this tool is for measuring your own machine.
        """;

    /// <summary>Parses <paramref name="args"/>; throws <see cref="ArgumentException"/> with a one-line reason.</summary>
    public static LoadOptions Parse(string[] args)
    {
        if (args.Length == 0 || args[0] is not ("steady" or "burst")) throw new ArgumentException("first argument must be 'steady' or 'burst'");
        string mode = args[0];
        string url = "http://127.0.0.1:5000";
        int clients = 64, burst = 100;
        double seconds = 60;
        int? pid = null;
        string? cookie = null;
        bool json = false;
        var paths = new List<string>();
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
        if (paths.Any(p => !p.StartsWith('/'))) throw new ArgumentException("paths must start with '/'");
        return new LoadOptions(baseUrl, mode, clients, TimeSpan.FromSeconds(seconds), paths, burst, pid, cookie, json);
    }

    private static bool IsLoopback(Uri u) =>
        u.IsLoopback || (IPAddress.TryParse(u.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    private static int Int(string text, string name, int min, int max) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= min && v <= max
            ? v : throw new ArgumentException($"{name} must be a whole number from {min} to {max}");
}
