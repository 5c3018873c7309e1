using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using McMaster.NETCore.Plugins;
using VacCnn.Contracts;
using VacCnn.Engine.Plugins;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Plugins;

/// <summary>
/// Plugins built against other contracts: the fixture compiled against the frozen contracts 1.0 is refused by name
/// with the reason before any of its code runs, and the refusal is right: loaded anyway, it fails the way 1.0 plugins
/// failed on a 2.0 host (MissingMethodException).
/// </summary>
public sealed class PluginCompatibilityTests
{
    private const string OldPlugin = "VacCnn.Fixtures.OldContractPlugin";
    private const string GoodPlugin = "VacCnn.Fixtures.GoodPlugin";
    private static string Dll(string plugin) => Path.Combine(TestPaths.FixturePlugins, plugin, plugin + ".dll");

    private static TempDir Folder(params string[] plugins)
    {
        var dir = new TempDir("vaccnn-compat");
        TestPaths.CopyPlugins(dir.Path, [.. plugins.Select(p => Path.Combine(TestPaths.FixturePlugins, p))]);
        return dir;
    }

    [Fact]
    public void A_plugin_built_against_contracts_1_is_listed_with_the_reason_and_the_others_load()
    {
        using var dir = Folder(OldPlugin, GoodPlugin);
        using var catalog = PluginCatalog.Load(dir.Path);
        var old = catalog.Plugins.Single(p => p.Name == OldPlugin);
        Assert.StartsWith("incompatible contracts: built against VacCnn.Contracts 1.0, but this host provides 2.1", old.Error);
        Assert.Contains("plugins must be built against 2.x", old.Error);
        Assert.Contains("GradientTarget.Resolve(FloatTensor)", old.Error); // the member it would have failed on
        Assert.Empty(old.Explainers);
        Assert.DoesNotContain(catalog.Explainers, e => e.Id == "fixture-old-activation");
        Assert.Null(catalog.Plugins.Single(p => p.Name == GoodPlugin).Error);
        Assert.Contains(catalog.Explainers, e => e.Id == "fixture-gradient-magnitude");
    }

    [Fact]
    public void The_members_found_missing_are_exactly_those_contracts_2_removed_from_what_the_plugin_calls()
    {
        // By hand, from OldActivationExplainer: it uses FloatTensor's Shape/Data, ExplanationRequest's Layer/ClassIndex,
        // IClassifier.Explainable, IExplainableClassifier.DefaultLayer/Forward, GradientTarget.ForAll and the
        // SaliencyMap constructor (all still in 2.0) and GradientTarget.Resolve (moved to the host in 2.0).
        Assert.Equal(["GradientTarget.Resolve(FloatTensor)"], Missing(Dll(OldPlugin)));
        Assert.Empty(Missing(Dll(GoodPlugin)));
        Assert.Null(PluginCompatibility.Check(Dll(GoodPlugin)));
        Assert.Equal(new Version(2, 1, 0, 0), PluginCompatibility.HostVersion);
    }

    [Fact]
    public void Loaded_anyway_the_old_plugin_fails_with_MissingMethodException_so_the_refusal_is_right()
    {
        using var loader = PluginLoader.CreateFromAssemblyFile(Dll(OldPlugin), [typeof(IExplainer), typeof(FloatTensor)], c => c.PreferSharedTypes = true);
        var type = loader.LoadDefaultAssembly().GetExportedTypes().Single(t => typeof(IExplainer).IsAssignableFrom(t));
        var explainer = (IExplainer)Activator.CreateInstance(type)!;
        using var model = new TwoClassModel();
        var image = FloatTensor.Zeros(1, 3, 2, 2);
        var e = Assert.Throws<MissingMethodException>(() => explainer.Explain(model, image, new ExplanationRequest(null, null, 0, new Dictionary<string, double>()), default));
        Assert.Contains("GradientTarget.Resolve", e.Message);
    }

    private static IReadOnlyList<string> Missing(string dll)
    {
        using var pe = new PEReader(File.OpenRead(dll));
        var md = pe.GetMetadataReader();
        var contracts = md.AssemblyReferences.Single(h => md.GetString(md.GetAssemblyReference(h).Name) == "VacCnn.Contracts");
        return PluginCompatibility.MissingMembers(md, contracts);
    }

    /// <summary>Just enough of a model for the old plugin to reach its call of the removed member.</summary>
    private sealed class TwoClassModel : IClassifier, IExplainableClassifier
    {
        public ModelCard Card { get; } = new("two", "Two classes", "Toy", 0, 0, 2, "toy", PreprocessingSpec.TorchVision(2, 2),
            OutputKind.Logits, "features", null, null, []);
        public IExplainableClassifier? Explainable => this;
        public IReadOnlyList<LayerInfo> CandidateLayers { get; } = [new("features", 1, 2, 2)];
        public string DefaultLayer => "features";
        public FloatTensor PredictProbabilities(FloatTensor images) => new([1, 2], [0.5f, 0.5f]);
        public (FloatTensor Scores, FloatTensor Activations) Forward(FloatTensor images, string layer) =>
            (new FloatTensor([1, 2], [1f, 2f]), new FloatTensor([1, 1, 2, 2], [1f, 2f, 3f, 4f]));
        public GradientResult Backward(FloatTensor images, FloatTensor outputSeed, string layer, bool withInputGradient) => throw new NotSupportedException();
        public GradientResult Backward(FloatTensor images, GradientTarget target, string layer, bool withInputGradient) => throw new NotSupportedException();
        public void Dispose() { }
    }
}
