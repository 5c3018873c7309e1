namespace VacCnn.Contracts;

/// <summary>A saliency map in [0, 1], row-major, <see cref="Height"/> × <see cref="Width"/>.</summary>
public sealed record SaliencyMap
{
    /// <summary>A map over <paramref name="values"/> (not copied).</summary>
    /// <param name="width">Columns.</param>
    /// <param name="height">Rows.</param>
    /// <param name="values">Saliency per pixel in [0, 1], row-major.</param>
    /// <param name="classIndex">Class explained.</param>
    /// <param name="probability">The model's probability for that class.</param>
    /// <param name="layer">Layer used, if any.</param>
    public SaliencyMap(int width, int height, float[] values, int classIndex, float probability, string? layer)
    {
        Width = width;
        Height = height;
        Values = values;
        ClassIndex = classIndex;
        Probability = probability;
        Layer = layer;
    }

    /// <summary>Columns.</summary>
    public int Width { get; init; }

    /// <summary>Rows.</summary>
    public int Height { get; init; }

    /// <summary>Saliency per pixel in [0, 1], row-major.</summary>
    public float[] Values { get; init; }

    /// <summary>Class explained.</summary>
    public int ClassIndex { get; init; }

    /// <summary>The model's probability for that class.</summary>
    public float Probability { get; init; }

    /// <summary>Layer used, if any.</summary>
    public string? Layer { get; init; }
}
