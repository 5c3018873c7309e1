namespace VacCnn.Contracts;

/// <summary>
/// A plugin that turns something on disk (e.g. a folder with model.onnx + model.json) into classifiers.
/// Implementations need a public parameterless constructor.
/// </summary>
public interface IModelSource
{
    /// <summary>Short name shown on the plugins page.</summary>
    string Name { get; }

    /// <summary>Loads every model this source recognises under <see cref="ModelSourceContext.ModelsRoot"/>.
    /// Must not throw for one bad model: report it as a failed <see cref="ModelLoadResult"/>.</summary>
    IReadOnlyList<ModelLoadResult> Discover(ModelSourceContext context);
}
