using VacCnn.Contracts;

namespace VacCnn.Engine.Evaluation;

/// <summary>
/// Turns image files into model input tensors with an ML.NET pipeline (load, resize the shorter side, centre crop,
/// extract pixels, per-channel mean/std, NCHW). Unreadable files are skipped with a reason. Thread-safe.
/// </summary>
public sealed class ImagePreprocessor
{
    /// <summary>Creates a preprocessor for one model's spec.</summary>
    public ImagePreprocessor(PreprocessingSpec spec) => Spec = spec;

    /// <summary>The spec this preprocessor implements.</summary>
    public PreprocessingSpec Spec { get; }

    /// <summary>Preprocesses the files; never throws for a bad file.</summary>
    public PreprocessedBatch Preprocess(IReadOnlyList<string> paths) => throw new NotImplementedException("helper B");
}
