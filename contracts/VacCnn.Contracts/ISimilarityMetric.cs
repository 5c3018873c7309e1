namespace VacCnn.Contracts;

/// <summary>A similarity between two saliency maps of the same size, in [0, 1] where 1 means identical.</summary>
public interface ISimilarityMetric
{
    /// <summary>Stable id, e.g. "ssim".</summary>
    string Id { get; }

    /// <summary>Name shown to users.</summary>
    string DisplayName { get; }

    /// <summary>One sentence on what it measures and how it maps to [0, 1].</summary>
    string Description { get; }

    /// <summary>Similarity of <paramref name="a"/> and <paramref name="b"/> (same width and height).</summary>
    double Similarity(SaliencyMap a, SaliencyMap b);
}
