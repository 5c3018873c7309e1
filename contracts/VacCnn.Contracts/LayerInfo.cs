namespace VacCnn.Contracts;

/// <summary>A candidate target layer: a named 4-D feature map [N, C, H, W].</summary>
public sealed record LayerInfo
{
    /// <summary>A layer.</summary>
    /// <param name="name">Tensor name inside the model.</param>
    /// <param name="channels">C.</param>
    /// <param name="height">H for one input image.</param>
    /// <param name="width">W for one input image.</param>
    public LayerInfo(string name, int channels, int height, int width)
    {
        Name = name;
        Channels = channels;
        Height = height;
        Width = width;
    }

    /// <summary>Tensor name inside the model.</summary>
    public string Name { get; init; }

    /// <summary>C.</summary>
    public int Channels { get; init; }

    /// <summary>H for one input image.</summary>
    public int Height { get; init; }

    /// <summary>W for one input image.</summary>
    public int Width { get; init; }
}
