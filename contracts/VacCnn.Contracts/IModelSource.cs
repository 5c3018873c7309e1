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
public sealed record ModelSourceContext
{
    /// <summary>The context of one discovery.</summary>
    /// <param name="modelsRoot">Folder holding one subfolder per model.</param>
    /// <param name="device">Execution device preference.</param>
    /// <param name="log">Receives human-readable log lines (provider chosen, assumptions made).</param>
    public ModelSourceContext(string modelsRoot, ExecutionDevice device, Action<string> log)
    {
        ModelsRoot = modelsRoot;
        Device = device;
        Log = log;
    }

    /// <summary>Folder holding one subfolder per model.</summary>
    public string ModelsRoot { get; init; }

    /// <summary>Execution device preference.</summary>
    public ExecutionDevice Device { get; init; }

    /// <summary>Receives human-readable log lines (provider chosen, assumptions made).</summary>
    public Action<string> Log { get; init; }
}

/// <summary>The outcome of loading one model: either a classifier or an error saying what is wrong.</summary>
public sealed record ModelLoadResult
{
    /// <summary>A loaded model (<paramref name="classifier"/> set) or a failure (<paramref name="error"/> set).</summary>
    /// <param name="id">Model id (folder name when nothing better is known).</param>
    /// <param name="location">File or folder the model came from.</param>
    /// <param name="classifier">The loaded classifier, or null on failure.</param>
    /// <param name="error">Why loading failed, naming the model and the problem; null on success.</param>
    public ModelLoadResult(string id, string location, IClassifier? classifier, string? error)
    {
        Id = id;
        Location = location;
        Classifier = classifier;
        Error = error;
    }

    /// <summary>Model id (folder name when nothing better is known).</summary>
    public string Id { get; init; }

    /// <summary>File or folder the model came from.</summary>
    public string Location { get; init; }

    /// <summary>The loaded classifier, or null on failure.</summary>
    public IClassifier? Classifier { get; init; }

    /// <summary>Why loading failed, naming the model and the problem; null on success.</summary>
    public string? Error { get; init; }
}

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
