namespace VacCnn.Contracts;

/// <summary>
/// A dense float32 tensor in row-major (C) order, e.g. an NCHW image batch, a [N, classes] score matrix,
/// or the activations / gradients at a layer.
/// </summary>
public sealed record FloatTensor
{
    /// <summary>A tensor over <paramref name="data"/> (not copied).</summary>
    /// <param name="shape">Dimensions, outermost first.</param>
    /// <param name="data">Values, length = product of <paramref name="shape"/>.</param>
    public FloatTensor(int[] shape, float[] data)
    {
        Shape = shape;
        Data = data;
    }

    /// <summary>Dimensions, outermost first.</summary>
    public int[] Shape { get; init; }

    /// <summary>Values, length = product of <see cref="Shape"/>.</summary>
    public float[] Data { get; init; }

    /// <summary>Number of elements implied by the shape.</summary>
    public long Length => Shape.Aggregate(1L, (a, d) => a * d);

    /// <summary>Creates a zero tensor of the given shape.</summary>
    public static FloatTensor Zeros(params int[] shape) =>
        new(shape, new float[shape.Aggregate(1L, (a, d) => a * d)]);

    /// <summary>The elements of batch item <paramref name="index"/> (first dimension), as a span.</summary>
    public Span<float> Item(int index)
    {
        int per = (int)(Length / Shape[0]);
        return Data.AsSpan(index * per, per);
    }
}
