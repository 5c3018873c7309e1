using VacCnn.Contracts;
using VacCnn.Engine.Plugins;
using VacCnn.TestSupport;

namespace VacCnn.Explainers.Tests;

/// <summary>
/// A third-party explainer end to end: tests/fixtures/VacCnn.Fixtures.GoodPlugin is compiled separately (this project
/// builds it but does not reference its assembly) and deployed to artifacts/fixture-plugins. A plugins folder holding it
/// and the deployed ONNX model plugin is loaded by the host's catalog; the model plugin discovers a real model, and
/// the fixture explainer explains a real image through the contracts. The map is checked against the same quantity
/// computed here from the host-referenced ONNX plugin's gradient.
/// </summary>
[Collection(RealModelsCollection.Name)]
public sealed class FixtureExplainerPluginTests(RealModelsFixture real)
{
    [Fact]
    public void A_separately_compiled_explainer_is_discovered_and_explains_a_real_model_from_a_model_plugin()
    {
        using var plugins = new TempDir("vaccnn-fixture-explainer");
        TestPaths.CopyPlugins(plugins.Path, Path.Combine(TestPaths.FixturePlugins, "VacCnn.Fixtures.GoodPlugin"),
            Path.Combine(TestPaths.Plugins, "VacCnn.Models.Onnx"));
        Assert.DoesNotContain(AppDomain.CurrentDomain.GetAssemblies(), a => a.GetName().Name == "VacCnn.Fixtures.GoodPlugin");

        using var catalog = PluginCatalog.Load(plugins.Path);
        Assert.All(catalog.Plugins, p => Assert.Null(p.Error));
        var explainer = Assert.Single(catalog.Explainers);
        Assert.Equal("fixture-gradient-magnitude", explainer.Id);
        Assert.Equal("VacCnn.Fixtures.GoodPlugin", explainer.GetType().Assembly.GetName().Name);

        using var models = new TempDir("vaccnn-fixture-models");
        Directory.CreateSymbolicLink(models.Combine(RealModelsFixture.ModelId), Path.Combine(TestPaths.Models, RealModelsFixture.ModelId));
        var source = Assert.Single(catalog.ModelSources);
        using var registry = ModelRegistry.Discover([source], models.Path, ExecutionDevice.Cpu, _ => { });
        var model = Assert.Single(registry.Classifiers);

        var image = real.Images[3];
        var map = explainer.Explain(model, image, new ExplanationRequest(null, null, 1, new Dictionary<string, double>()), CancellationToken.None);

        // Independent computation through the host-referenced plugin: max_c |dS/dx_c| / max.
        var p = real.Trained.PredictProbabilities(image).Data;
        int cls = Array.IndexOf(p, p.Max());
        Assert.Equal(cls, map.ClassIndex);
        Assert.Equal(p[cls], map.Probability, 5);
        var seed = FloatTensor.Zeros(1, real.Trained.Card.ClassCount);
        seed.Data[cls] = 1;
        var ex = real.Trained.Explainable!;
        var g = ex.Backward(image, seed, ex.DefaultLayer, true).InputGradient!;
        int hw = image.Shape[2] * image.Shape[3];
        var expected = Enumerable.Range(0, hw).Select(i => Math.Max(Math.Abs(g.Data[i]), Math.Max(Math.Abs(g.Data[hw + i]), Math.Abs(g.Data[2 * hw + i])))).ToArray();
        float max = expected.Max();
        Assert.True(max > 0);
        Assert.Equal((image.Shape[3], image.Shape[2]), (map.Width, map.Height));
        for (int i = 0; i < hw; i++) Assert.Equal(expected[i] / max, map.Values[i], 1e-5f);
    }
}
