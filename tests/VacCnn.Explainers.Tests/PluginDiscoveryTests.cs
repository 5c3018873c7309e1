using VacCnn.Engine.Plugins;
using VacCnn.TestSupport;

namespace VacCnn.Explainers.Tests;

/// <summary>The deployed plugin folders (artifacts/plugins) are found by the host's catalog in their own load contexts.</summary>
public sealed class PluginDiscoveryTests
{
    [Fact]
    public void The_host_discovers_every_bundled_explainer()
    {
        using var dir = new TempDir("vaccnn-explainer-plugins");
        foreach (var name in new[] { "VacCnn.Explainers.Cam", "VacCnn.Explainers.Perturbation", "VacCnn.Explainers.Attribution" })
        {
            string src = Path.Combine(TestPaths.Plugins, name);
            Assert.True(Directory.Exists(src), $"plugin not deployed: {src}");
            Directory.CreateDirectory(dir.Combine(name));
            foreach (var f in Directory.GetFiles(src)) File.Copy(f, dir.Combine(name, Path.GetFileName(f)));
            // Plugins must not carry their own copy of the contracts (it would break type identity with the host).
            Assert.False(File.Exists(dir.Combine(name, "VacCnn.Contracts.dll")));
        }
        using var catalog = PluginCatalog.Load(dir.Path);
        Assert.Equal(["ablationcam", "bbmp", "eigencam", "gradcam", "gradcampp", "gradinput", "hirescam", "integratedgradients", "layercam", "scorecam", "smoothgrad", "smoothgradcampp", "xgradcam"], catalog.Explainers.Select(e => e.Id).Order().ToArray());
        // A host-side type check: the explainer instances come from another load context but implement the host's IExplainer.
        Assert.All(catalog.Explainers, e => Assert.NotEqual(typeof(VacCnn.Explainers.Cam.GradCam).Assembly, e.GetType().Assembly));
    }
}
