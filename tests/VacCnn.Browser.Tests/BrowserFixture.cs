using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using VacCnn.Engine.Jobs;
using VacCnn.TestSupport;

namespace VacCnn.Browser.Tests;

/// <summary>
/// The real web host on a free loopback port (Kestrel) and Debian's chromium. The host sees three small real models
/// (copied from ../shared/data/models into a temporary folder so that "all models" stays affordable on two cores),
/// a subset of the real ImageNet samples that includes the classes of the paper's use cases, and an empty data
/// folder; the fixture first evaluates the three models through the host's own Hangfire jobs so that the overview
/// has data.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    /// <summary>Debian's chromium (installed by .ci/run); override with VACCNN_CHROMIUM.</summary>
    public static string ChromiumPath { get; } = Environment.GetEnvironmentVariable("VACCNN_CHROMIUM") is { Length: > 0 } p ? p : "/usr/bin/chromium";

    /// <summary>The evaluated models (cheap ones).</summary>
    public static readonly string[] ModelIds = ["mobilenet_v1_0.25_128_quant", "mobilenet_v1_0.5_160_quant", "squeezenet_v1.1_int8"];

    /// <summary>Use case 1: crayfish. Use case 2: flamingo.</summary>
    public const string CrayfishWnid = "n01985128", FlamingoWnid = "n02007558";

    private readonly TempDir _models = new("vaccnn-browser-models");
    private readonly TempDir _images = new("vaccnn-browser-images");
    private readonly TempDir _data = new("vaccnn-browser-data");
    private KestrelFactory? _factory;
    private IPlaywright? _playwright;

    /// <summary>Base address of the running host, e.g. http://127.0.0.1:41234.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The launched browser.</summary>
    public IBrowser Browser { get; private set; } = null!;

    /// <summary>File names of the images the host sees.</summary>
    public IReadOnlyList<string> ImageFiles { get; private set; } = [];

    /// <summary>Distinct wnids of those images (each file name starts with its wnid).</summary>
    public IReadOnlySet<string> Wnids => ImageFiles.Select(f => f[..f.IndexOf('_')]).ToHashSet();

    /// <summary>Where the screenshots go (git-ignored artifacts/).</summary>
    public static string ScreenshotDir { get; } = Path.Combine(TestPaths.RepoRoot, "artifacts", "screenshots");

    /// <summary>The data folder the host writes results to.</summary>
    public string DataDir => _data.Path;

    /// <summary>An HTTP client for the running host.</summary>
    public HttpClient Http { get; private set; } = null!;

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        // Fail loudly, not silently: CI installs chromium (.ci/run); a browser download is impossible here.
        if (!File.Exists(ChromiumPath))
            throw new InvalidOperationException($"chromium not found at {ChromiumPath}: install it with 'apt-get install -y chromium' (.ci/run does) or set VACCNN_CHROMIUM.");

        foreach (string id in ModelIds) CopyDirectory(Path.Combine(TestPaths.Models, id), _models.Combine(id));
        // Every 4th image plus the use-case classes: ~250 classes keep evaluation and the t-SNE graph quick.
        var all = Directory.GetFiles(TestPaths.ImageNetSamples).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();
        var chosen = all.Where((f, i) => i % 4 == 0 || f.StartsWith(CrayfishWnid, StringComparison.Ordinal) || f.StartsWith(FlamingoWnid, StringComparison.Ordinal)).ToList();
        foreach (string f in chosen) File.Copy(Path.Combine(TestPaths.ImageNetSamples, f), _images.Combine(f));
        ImageFiles = chosen;

        _factory = new KestrelFactory(new Dictionary<string, string?>
        {
            ["VacCnn:Models"] = _models.Path,
            ["VacCnn:Images"] = _images.Path,
            ["VacCnn:ImageNet"] = TestPaths.ImageNet,
            ["VacCnn:Data"] = _data.Path,
            ["VacCnn:Plugins"] = TestPaths.Plugins,
            ["VacCnn:Workers"] = "2",
        });
        _factory.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        _factory.StartServer();
        string address = _factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        BaseAddress = new Uri(address.Replace("[::1]", "127.0.0.1", StringComparison.Ordinal));
        Http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };

        await EvaluateModels();

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"],
        });
        Directory.CreateDirectory(ScreenshotDir);
    }

    /// <summary>Evaluates every model through the host's Hangfire jobs and waits for the runs to finish.</summary>
    private async Task EvaluateModels()
    {
        var jobs = _factory!.Services.GetRequiredService<EvaluationJobs>();
        foreach (string id in ModelIds) jobs.EvaluateModel(id);
        var deadline = DateTime.UtcNow.AddMinutes(8);
        while (true)
        {
            var runs = await Http.GetFromJsonAsync<JsonElement>("/api/runs");
            var states = ModelIds.Select(id => runs.EnumerateArray().Where(r => r.GetProperty("modelId").GetString() == id)
                .Select(r => r.GetProperty("state").GetString()).FirstOrDefault()).ToList();
            if (states.Contains("failed")) throw new InvalidOperationException("an evaluation failed: " + runs);
            if (states.All(s => s == "done")) return;
            if (DateTime.UtcNow > deadline) throw new TimeoutException("evaluations not done after 8 minutes: " + runs);
            await Task.Delay(1000);
        }
    }

    /// <summary>A new page at 1366×768 (the smallest screen the page is designed for).</summary>
    public async Task<IPage> NewPage()
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = BaseAddress.ToString(),
            ViewportSize = new ViewportSize { Width = 1366, Height = 768 },
        });
        var page = await context.NewPageAsync();
        // Generous: in CI the other test assemblies share the two cores.
        page.SetDefaultTimeout(90_000);
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);
        // Console "Failed to load resource" lines carry no URL: failed responses are recorded with theirs instead.
        page.Console += (_, m) => { if (m.Type == "error" && !m.Text.StartsWith("Failed to load resource", StringComparison.Ordinal)) errors.Add(m.Text); };
        // 429 (explanation queue full, retried after Retry-After) is expected behaviour, not an error.
        page.Response += (_, r) => { if (r.Status >= 400 && r.Status != 429) errors.Add($"{r.Status} {r.Url}"); };
        PageErrors[page] = errors;
        return page;
    }

    /// <summary>JavaScript errors and console errors seen per page.</summary>
    public Dictionary<IPage, List<string>> PageErrors { get; } = [];

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (Browser != null) await Browser.CloseAsync();
        _playwright?.Dispose();
        Http?.Dispose();
        _factory?.Dispose();
        _models.Dispose();
        _images.Dispose();
        _data.Dispose();
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }

    private sealed class KestrelFactory(IReadOnlyDictionary<string, string?> settings) : WebApplicationFactory<Program>
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            builder.UseEnvironment("Development");
            builder.ConfigureAppConfiguration((_, c) => c.AddInMemoryCollection(settings));
        }
    }
}

/// <summary>Browser tests share one host and one browser and run one after another (two CPU cores).</summary>
[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<BrowserFixture>
{
    /// <summary>Collection name.</summary>
    public const string Name = "browser";
}
