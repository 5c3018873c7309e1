using VacCnn.Contracts;
using VacCnn.TestSupport;

namespace VacCnn.Metrics.Standard.Tests;

/// <summary>README's "Writing your own metric" example compiles (ReadmeMetricExample.cs is that code block) and works.</summary>
public sealed class ReadmeMetricExampleTests
{
    [Fact]
    public void The_README_example_is_the_compiled_file()
    {
        string readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"));
        int section = readme.IndexOf("## Writing your own metric", StringComparison.Ordinal);
        Assert.True(section >= 0);
        int start = readme.IndexOf("```csharp\n", section, StringComparison.Ordinal) + "```csharp\n".Length;
        int end = readme.IndexOf("```", start, StringComparison.Ordinal);
        string file = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "tests", "VacCnn.Metrics.Standard.Tests", "ReadmeMetricExample.cs"));
        Assert.Equal(readme[start..end], file);
    }

    [Fact]
    public void The_README_example_gives_intersection_over_union_of_the_salient_pixels()
    {
        // Salient (≥ 0.5): a = {0, 1, 2}, b = {1, 2, 3}: both {1, 2}, either {0, 1, 2, 3} → 2 / 4.
        var a = new SaliencyMap(3, 2, [0.9f, 0.5f, 1f, 0.1f, 0f, 0.49f], 0, 1, null);
        var b = new SaliencyMap(3, 2, [0.2f, 0.6f, 0.7f, 0.8f, 0f, 0f], 0, 1, null);
        var metric = new OverlapMetric();
        Assert.Equal(0.5, metric.Similarity(a, b));
        Assert.Equal(1.0, metric.Similarity(a, a));
        Assert.Throws<ArgumentException>(() => metric.Similarity(a, new SaliencyMap(2, 3, new float[6], 0, 1, null)));
    }
}
