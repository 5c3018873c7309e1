namespace VacCnn.Contracts;

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
