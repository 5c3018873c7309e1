namespace VacCnn.Contracts;

/// <summary>What to explain.</summary>
public sealed record ExplanationRequest
{
    /// <summary>A request.</summary>
    /// <param name="classIndex">Class to explain; null = the predicted class.</param>
    /// <param name="layer">Target layer; null = the model's default.</param>
    /// <param name="seed">Random seed: the same seed gives the same map.</param>
    /// <param name="settings">Values for the explainer's <see cref="IExplainer.Settings"/>; missing ones take defaults.</param>
    public ExplanationRequest(int? classIndex, string? layer, int seed, IReadOnlyDictionary<string, double> settings)
    {
        ClassIndex = classIndex;
        Layer = layer;
        Seed = seed;
        Settings = settings;
    }

    /// <summary>Class to explain; null = the predicted class.</summary>
    public int? ClassIndex { get; init; }

    /// <summary>Target layer; null = the model's default.</summary>
    public string? Layer { get; init; }

    /// <summary>Random seed: the same seed gives the same map.</summary>
    public int Seed { get; init; }

    /// <summary>Values for the explainer's <see cref="IExplainer.Settings"/>; missing ones take defaults.</summary>
    public IReadOnlyDictionary<string, double> Settings { get; init; }
}
