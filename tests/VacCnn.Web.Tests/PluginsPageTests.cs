using System.Net;
using System.Text.Json;
using VacCnn.TestSupport;

namespace VacCnn.Web.Tests;

/// <summary>A plugin built against contracts 1.0 beside the bundled ones: the Plugins page and /api/plugins list it with
/// the reason, and the host serves explanations with the others.</summary>
[Collection(ExplanationWebCollection.Name)]
public sealed class PluginsPageTests(ExplanationWebFixture app)
{
    private const string OldPlugin = "VacCnn.Fixtures.OldContractPlugin";

    [Fact]
    public async Task A_plugin_built_against_old_contracts_is_listed_with_the_reason_and_the_host_still_works()
    {
        using var plugins = new TempDir("vaccnn-web-plugins");
        TestPaths.CopyPlugins(plugins.Path, [.. Directory.GetDirectories(TestPaths.Plugins), Path.Combine(TestPaths.FixturePlugins, OldPlugin)]);
        using var data = new TempDir("vaccnn-web-plugins-data");
        var factory = app.Create(capacity: 4, models: app.ModelsRoot, data: data.Path,
            new Dictionary<string, string?> { ["VacCnn:Plugins"] = plugins.Path });
        using var client = factory.CreateClient();

        string html = await client.GetStringAsync("/Plugins");
        Assert.Contains(OldPlugin, html);
        Assert.Contains("incompatible contracts: built against VacCnn.Contracts 1.0, but this host provides 2.1", html);
        Assert.Contains("GradientTarget.Resolve(FloatTensor)", html);

        using var doc = JsonDocument.Parse(await client.GetStringAsync("/api/plugins"));
        var old = doc.RootElement.GetProperty("plugins").EnumerateArray().Single(p => p.GetProperty("name").GetString() == OldPlugin);
        Assert.StartsWith("incompatible contracts:", old.GetProperty("error").GetString());

        var r = await ExplanationApiTests.UntilDone(client,
            $"/api/explanations?model={ExplanationWebFixture.Small}&image={ExplanationWebFixture.Goldfish}&method=gradcam");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }
}
