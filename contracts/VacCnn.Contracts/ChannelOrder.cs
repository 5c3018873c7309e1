namespace VacCnn.Contracts;

/// <summary>Channel order the network expects in its input tensor.</summary>
public enum ChannelOrder
{
    /// <summary>Red, green, blue (PyTorch, TF-slim).</summary>
    Rgb,
    /// <summary>Blue, green, red (Caffe-style models).</summary>
    Bgr,
}
