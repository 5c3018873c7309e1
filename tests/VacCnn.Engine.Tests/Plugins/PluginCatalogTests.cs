using VacCnn.Contracts;
using VacCnn.Engine.Plugins;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Plugins;

public class PluginCatalogTests
{
    /// <summary>A plugins folder with the two fixture plugins plus a folder whose DLL is garbage.</summary>
    private static TempDir PluginsFolder()
    {
        var dir = new TempDir("vaccnn-plugins");
        TestPaths.CopyPlugins(dir.Path, Path.Combine(TestPaths.FixturePlugins, "VacCnn.Fixtures.GoodPlugin"),
            Path.Combine(TestPaths.FixturePlugins, "VacCnn.Fixtures.ThrowingPlugin"));
        Directory.CreateDirectory(dir.Combine("Broken"));
        File.WriteAllText(dir.Combine("Broken", "Broken.dll"), "this is not an assembly");
        Directory.CreateDirectory(dir.Combine("Empty"));
        return dir;
    }

    [Fact]
    public void A_separately_compiled_plugin_is_discovered_and_works_through_the_contracts()
    {
        using var dir = PluginsFolder();
        using var catalog = PluginCatalog.Load(dir.Path);
        var metric = Assert.Single(catalog.Metrics);
        Assert.Equal("fixture-mean-abs", metric.Id);
        var a = new SaliencyMap(2, 1, [0f, 1f], 0, 1, null);
        var b = new SaliencyMap(2, 1, [0.5f, 1f], 0, 1, null);
        Assert.Equal(0.75, metric.Similarity(a, b), 9); // 1 − (0.5 + 0) / 2
        // The plugin's contract types are the host's (shared), not a second copy.
        Assert.Same(typeof(ISimilarityMetric).Assembly, metric.GetType().GetInterfaces().Single(i => i.Name == nameof(ISimilarityMetric)).Assembly);
    }

    [Fact]
    public void Failing_plugins_are_reported_by_name_and_reason_and_do_not_stop_the_others()
    {
        using var dir = PluginsFolder();
        using var catalog = PluginCatalog.Load(dir.Path);
        Assert.Equal(["Broken", "Empty", "VacCnn.Fixtures.GoodPlugin", "VacCnn.Fixtures.ThrowingPlugin"], catalog.Plugins.Select(p => p.Name));
        var throwing = catalog.Plugins.Single(p => p.Name == "VacCnn.Fixtures.ThrowingPlugin");
        Assert.Contains("licence server unreachable", throwing.Error);
        Assert.Contains("ThrowingExplainer", throwing.Error);
        Assert.Contains("cannot load Broken.dll", catalog.Plugins.Single(p => p.Name == "Broken").Error);
        Assert.Contains("no Empty.dll", catalog.Plugins.Single(p => p.Name == "Empty").Error);
        Assert.Null(catalog.Plugins.Single(p => p.Name == "VacCnn.Fixtures.GoodPlugin").Error);
    }

    [Fact]
    public void A_plugins_folder_given_relative_to_the_working_directory_loads()
    {
        using var dir = PluginsFolder();
        string relative = Path.GetRelativePath(Environment.CurrentDirectory, dir.Path);
        Assert.False(Path.IsPathRooted(relative));
        using var catalog = PluginCatalog.Load(relative);
        Assert.Null(catalog.Plugins.Single(p => p.Name == "VacCnn.Fixtures.GoodPlugin").Error);
        Assert.Equal(dir.Path, catalog.Folder);
    }

    [Fact]
    public void A_missing_folder_gives_an_empty_catalog()
    {
        using var catalog = PluginCatalog.Load("/nonexistent/vaccnn/plugins");
        Assert.Empty(catalog.Plugins);
    }
}
