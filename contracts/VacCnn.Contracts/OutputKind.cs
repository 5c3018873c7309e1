namespace VacCnn.Contracts;

/// <summary>What the model's output tensor holds.</summary>
public enum OutputKind
{
    /// <summary>Unnormalised class scores; the host applies softmax.</summary>
    Logits,
    /// <summary>Already probabilities (sum to 1).</summary>
    Probabilities,
}
