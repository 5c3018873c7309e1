using VacCnn.TestSupport;

namespace VacCnn.Web.Tests;

/// <summary>Start-up fails fast, naming the setting, when the configuration is wrong.</summary>
[Collection(WebCollection.Name)]
public sealed class StartupValidationTests
{
    [Fact]
    public void MissingModelsFolderStopsStartupNamingTheSetting()
    {
        using var data = new TempDir("vaccnn-web-bad");
        string missing = Path.Combine(data.Path, "no-models-here");
        using var factory = WebAppFixture.CreateFactory(new Dictionary<string, string?>
        {
            ["VacCnn:Models"] = missing,
            ["VacCnn:Images"] = "",
            ["VacCnn:ImageNet"] = TestPaths.ImageNet,
            ["VacCnn:Data"] = data.Combine("data"),
            ["VacCnn:Plugins"] = TestPaths.Plugins,
        });
        var e = Assert.ThrowsAny<Exception>(() => factory.CreateClient());
        string text = e.ToString();
        Assert.Contains("VacCnn:Models", text);
        Assert.Contains(missing, text);
    }

    [Fact]
    public void BadWorkerCountStopsStartup()
    {
        using var data = new TempDir("vaccnn-web-bad");
        using var factory = WebAppFixture.CreateFactory(new Dictionary<string, string?>
        {
            ["VacCnn:Models"] = TestPaths.Models,
            ["VacCnn:Images"] = "",
            ["VacCnn:ImageNet"] = TestPaths.ImageNet,
            ["VacCnn:Data"] = data.Combine("data"),
            ["VacCnn:Plugins"] = TestPaths.Plugins,
            ["VacCnn:Workers"] = "zero",
        });
        var e = Assert.ThrowsAny<Exception>(() => factory.CreateClient());
        Assert.Contains("VacCnn:Workers", e.ToString());
    }
}
