using VacCnn.Contracts;
using VacCnn.Engine.Plugins;
using VacCnn.TestSupport;

namespace VacCnn.Models.Onnx.Tests;

/// <summary>The plugin as the host sees it: deployed to artifacts/plugins by build/Plugin.targets, loaded in its own
/// load context with the contracts shared.</summary>
public sealed class PluginLoadingTests
{
    [Fact]
    public void The_deployed_plugin_discovers_eleven_working_classifiers()
    {
        using var catalog = PluginCatalog.Load(TestPaths.Plugins);
        var plugin = catalog.Plugins.SingleOrDefault(p => p.Name == "VacCnn.Models.Onnx");
        Assert.NotNull(plugin);
        Assert.Null(plugin.Error);
        var source = Assert.Single(plugin.ModelSources);
        Assert.Equal("ONNX folder models", source.Name);
        // Loaded in its own context: the type is not the one this test assembly references.
        Assert.NotSame(typeof(OnnxModelSource).Assembly, source.GetType().Assembly);

        var log = new List<string>();
        using var registry = ModelRegistry.Discover([source], TestPaths.Models, ExecutionDevice.Cpu, log.Add);
        Assert.Empty(registry.Failures);
        Assert.Equal(11, registry.Classifiers.Count);
        foreach (var c in registry.Classifiers)
        {
            var x = FloatTensor.Zeros(1, 3, c.Card.Preprocessing.CropHeight, c.Card.Preprocessing.CropWidth);
            var p = c.PredictProbabilities(x);
            Assert.Equal([1, 1000], p.Shape);
            Assert.Equal(1.0, p.Data.Sum(v => (double)v), 4);
        }
    }
}
