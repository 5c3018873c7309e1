using VacCnn.Contracts;
using VacCnn.Engine.Explanations;
using VacCnn.Engine.Plugins;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Explanations;

public class StandardMetricsPluginTests
{
    [Fact]
    public void The_deployed_plugin_offers_the_four_metrics_and_feeds_the_similarity_matrix()
    {
        // BuildPlugins.props builds and deploys the plugin to artifacts/plugins before these tests run.
        using var catalog = PluginCatalog.Load(TestPaths.Plugins);
        var ids = catalog.Metrics.Select(m => m.Id).ToHashSet();
        Assert.Superset(new HashSet<string> { "ssim", "mse", "l1", "phash" }, ids);
        Assert.Null(catalog.Plugins.Single(p => p.Name == "VacCnn.Metrics.Standard").Error);

        var a = new SaliencyMap(2, 2, [0f, 1f, 0.5f, 0.25f], 0, 1, null);
        var b = new SaliencyMap(2, 2, [0f, 0f, 1f, 0.25f], 1, 1, null);
        var m = SimilarityMatrix.Compute([a, b, a], catalog.Metrics.Single(x => x.Id == "mse"));
        Assert.Equal(0.6875, m[0, 1], 12); // 1 − (0 + 1 + 0.25 + 0) / 4, by hand
        Assert.Equal(1.0, m[0, 2], 12);
        Assert.Equal(m[1, 2], m[2, 1]);
    }
}
