using System.Net;
using System.Text.Json;
using VacCnn.Load;

// vaccnn-load: a bounded load / burst generator for a VacCnn host on this machine. JSON with --json.
LoadOptions options;
try { options = LoadOptions.Parse(args); }
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    Console.Error.WriteLine(LoadOptions.Usage);
    return 2;
}

using var handler = new SocketsHttpHandler
{
    MaxConnectionsPerServer = Math.Max(options.Clients, options.Burst),
    UseCookies = false,
    AllowAutoRedirect = false,
    AutomaticDecompression = DecompressionMethods.None,
};
using var http = new HttpClient(handler) { BaseAddress = options.BaseUrl, Timeout = TimeSpan.FromSeconds(120) };
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };

if (options.Mode == "lanes")
{
    var lanes = await new LaneRunner(options, http).RunAsync(cancel.Token);
    if (options.Json)
        Console.WriteLine(JsonSerializer.Serialize(lanes, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
    else
    {
        Console.WriteLine($"lanes: {lanes.Samples} cheap explanations alone, then {lanes.Samples} beside {lanes.Heavy} expensive ones");
        Console.WriteLine($"alone:  p50 {lanes.SoloP50Ms} ms  p95 {lanes.SoloP95Ms} ms");
        Console.WriteLine($"beside: p50 {lanes.LoadedP50Ms} ms  p95 {lanes.LoadedP95Ms} ms  max {lanes.LoadedMaxMs} ms; {lanes.HeavyPendingAtEnd} of {lanes.Heavy} expensive still pending at the end");
        Console.WriteLine($"errors: {lanes.Errors}" + (lanes.ErrorSamples.Count > 0 ? " — e.g. " + string.Join(" | ", lanes.ErrorSamples) : ""));
    }
    return lanes.Errors == 0 ? 0 : 1;
}

var runner = new LoadRunner(options, http);
var report = options.Mode == "steady" ? await runner.SteadyAsync(cancel.Token) : await runner.BurstAsync(cancel.Token);
if (options.Json)
    Console.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
else
{
    Console.WriteLine($"{report.Mode}: {report.Clients} {(report.Mode == "steady" ? "clients" : "requests")}, {report.Seconds} s, {report.Requests} requests ({report.RequestsPerSecond}/s)");
    Console.WriteLine($"latency ms: p50 {report.P50Ms}  p95 {report.P95Ms}  p99 {report.P99Ms}  max {report.MaxMs}");
    Console.WriteLine("status: " + string.Join("  ", report.StatusCounts.Select(kv => $"{kv.Key}×{kv.Value}")));
    Console.WriteLine($"errors: {report.Errors}" + (report.ErrorSamples.Count > 0 ? " — e.g. " + string.Join(" | ", report.ErrorSamples) : ""));
    if (report.PeakRssKiB is { } rss) Console.WriteLine($"host peak RSS: {rss / 1024.0:F1} MiB");
}
return report.Errors == 0 ? 0 : 1;
