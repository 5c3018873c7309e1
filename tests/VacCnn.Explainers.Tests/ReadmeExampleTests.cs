using VacCnn.Contracts;
using VacCnn.TestSupport;

namespace VacCnn.Explainers.Tests;

/// <summary>README's "Writing your own explainer" example compiles (ReadmeExample.cs is that code block) and works.</summary>
public sealed class ReadmeExampleTests
{
    [Fact]
    public void The_README_example_is_the_compiled_file()
    {
        string readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"));
        int section = readme.IndexOf("## Writing your own explainer", StringComparison.Ordinal);
        Assert.True(section >= 0);
        int start = readme.IndexOf("```csharp\n", section, StringComparison.Ordinal) + "```csharp\n".Length;
        int end = readme.IndexOf("```", start, StringComparison.Ordinal);
        string file = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "tests", "VacCnn.Explainers.Tests", "ReadmeExample.cs"));
        Assert.Equal(readme[start..end], file);
    }

    [Fact]
    public void The_README_example_gives_the_normalised_gradient_magnitude()
    {
        var m = new LinearToyModel();
        var x = m.RandomImage(5);
        var map = new MyLab.Explainers.GradientMagnitude().Explain(m, x, new ExplanationRequest(1, null, 0, new Dictionary<string, double>()), CancellationToken.None);
        // Analytic input gradient of the toy model: Σ_k dS/dA[k, cell]·P[k, c]/pool².
        var g = m.LayerGradientFor(1);
        int lhw = m.Lh * m.Lh;
        var expected = new double[m.Size * m.Size];
        for (int y = 0; y < m.Size; y++)
            for (int xx = 0; xx < m.Size; xx++)
                for (int c = 0; c < 3; c++)
                {
                    double v = 0;
                    for (int k = 0; k < m.K; k++) v += g[k * lhw + (y / m.Pool) * m.Lh + xx / m.Pool] * m.P[k, c] / (m.Pool * m.Pool);
                    expected[y * m.Size + xx] = Math.Max(expected[y * m.Size + xx], Math.Abs(v));
                }
        double max = expected.Max();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i] / max, map.Values[i], 4);
    }
}
