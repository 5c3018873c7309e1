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
