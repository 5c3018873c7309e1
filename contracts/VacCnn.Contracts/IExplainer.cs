namespace VacCnn.Contracts;

/// <summary>
/// A visual explanation method. It sees the model only through <see cref="IClassifier"/> and
/// <see cref="IExplainableClassifier"/>; it gets the preprocessed crop and returns a map at crop resolution
/// (the host places it back onto the original image).
/// </summary>
public interface IExplainer
{
    /// <summary>Stable id used in URLs and the CLI, e.g. "gradcam".</summary>
    string Id { get; }

    /// <summary>Name shown to users.</summary>
    string DisplayName { get; }

    /// <summary>One sentence for novices: what the map shows and what it costs.</summary>
    string Description { get; }

    /// <summary>Tunable settings with defaults and bounds.</summary>
    IReadOnlyList<SettingInfo> Settings { get; }

    /// <summary>Rough cost of one explanation (contracts 2.1); cheap ones are scheduled in the interactive lane.</summary>
    ExplainerCost Cost => ExplainerCost.Expensive;

    /// <summary>Explains one preprocessed image [1, 3, H, W].</summary>
    SaliencyMap Explain(IClassifier model, FloatTensor image, ExplanationRequest request, CancellationToken cancellationToken);
}
