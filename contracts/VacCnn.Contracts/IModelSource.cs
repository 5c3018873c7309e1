namespace VacCnn.Contracts;

/// <summary>Where a model should run.</summary>
public enum ExecutionDevice
{
    /// <summary>GPU when one is usable, else CPU.</summary>
    Auto,
    /// <summary>Always the CPU.</summary>
    Cpu,
    /// <summary>The GPU (CUDA); loading fails when none is usable.</summary>
    Cuda,
}

/// <summary>What a model source gets from the host.</summary>
/// <param name="ModelsRoot">Folder holding one subfolder per model.</param>
/// <param name="Device">Execution device preference.</param>
/// <param name="Log">Receives human-readable log lines (provider chosen, assumptions made).</param>
public sealed record ModelSourceContext(string ModelsRoot, ExecutionDevice Device, Action<string> Log);

/// <summary>The outcome of loading one model: either a classifier or an error saying what is wrong.</summary>
/// <param name="Id">Model id (folder name when nothing better is known).</param>
/// <param name="Location">File or folder the model came from.</param>
/// <param name="Classifier">The loaded classifier, or null on failure.</param>
/// <param name="Error">Why loading failed, naming the model and the problem; null on success.</param>
public sealed record ModelLoadResult(string Id, string Location, IClassifier? Classifier, string? Error);

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
