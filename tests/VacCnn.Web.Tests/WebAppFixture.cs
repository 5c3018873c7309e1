using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using VacCnn.TestSupport;

namespace VacCnn.Web.Tests;

/// <summary>
/// One running web host for the whole test collection (loading 11 ONNX models takes seconds): the shared models,
/// a 20-image subset of the ImageNet samples (spread over the classes) and a temporary data folder.
/// </summary>
public sealed class WebAppFixture : IDisposable
{
    /// <summary>Images in the test image set.</summary>
    public const int ImageCount = 20;

    private readonly TempDir _images = new("vaccnn-web-images");
    private readonly TempDir _data = new("vaccnn-web-data");

    /// <summary>Starts the host (lazily, on first client).</summary>
    public WebAppFixture()
    {
        var all = Directory.GetFiles(TestPaths.ImageNetSamples).Order(StringComparer.Ordinal).ToList();
        int step = Math.Max(1, all.Count / ImageCount);
        foreach (string file in all.Where((_, i) => i % step == 0).Take(ImageCount))
            File.Copy(file, _images.Combine(Path.GetFileName(file)));
        Factory = CreateFactory(new Dictionary<string, string?>
        {
            ["VacCnn:Models"] = TestPaths.Models,
            ["VacCnn:Images"] = _images.Path,
            ["VacCnn:ImageNet"] = TestPaths.ImageNet,
            ["VacCnn:Data"] = _data.Path,
            ["VacCnn:Plugins"] = TestPaths.Plugins,
            ["VacCnn:ShardSize"] = "10", // two shards: exercises several jobs and the final assembly
            ["VacCnn:Workers"] = "1",
        });
    }

    /// <summary>The host.</summary>
    public WebApplicationFactory<Program> Factory { get; }

    /// <summary>The images the host sees.</summary>
    public string ImagesRoot => _images.Path;

    /// <summary>The data folder the host writes results to.</summary>
    public string DataDir => _data.Path;

    /// <summary>A factory whose VacCnn configuration is exactly <paramref name="settings"/> (over appsettings.json).</summary>
    public static WebApplicationFactory<Program> CreateFactory(IReadOnlyDictionary<string, string?> settings) =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(b =>
        {
            b.UseEnvironment("Development");
            // Added last, so these win over appsettings.json, environment variables and the command line.
            b.ConfigureAppConfiguration((_, c) => c.AddInMemoryCollection(settings));
            // The in-process test server leaves the remote address empty; these clients stand for a browser on this
            // machine (what the admin-less local mode allows). Tests that need a remote client set one explicitly.
            b.ConfigureServices(s => s.AddSingleton<IStartupFilter, LocalClientFilter>());
        });

    private sealed class LocalClientFilter : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, nextMiddleware) =>
            {
                context.Connection.RemoteIpAddress ??= System.Net.IPAddress.Loopback;
                return nextMiddleware(context);
            });
            next(app);
        };
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Factory.Dispose();
        _images.Dispose();
        _data.Dispose();
    }
}

/// <summary>Tests sharing the host run one after another (they share the Hangfire worker and two CPU cores).</summary>
[CollectionDefinition(Name)]
public sealed class WebCollection : ICollectionFixture<WebAppFixture>
{
    /// <summary>Collection name.</summary>
    public const string Name = "web";
}
