namespace VacCnn.Contracts;

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

    /// <summary>Threads one inference session of a model may use; 0 (the default) lets the source choose (the ONNX
    /// source: every core). Set to 1 where each worker process runs one explanation per core. Added in 2.1.</summary>
    public int InferenceThreads { get; init; }
}
