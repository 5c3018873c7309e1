namespace VacCnn.TestSupport;

/// <summary>A temporary folder deleted on dispose.</summary>
public sealed class TempDir : IDisposable
{
    /// <summary>Creates the folder.</summary>
    public TempDir(string prefix = "vaccnn-test") => Path = TestPaths.NewTempDir(prefix);

    /// <summary>Full path.</summary>
    public string Path { get; }

    /// <summary>Path of a file or folder inside.</summary>
    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    /// <inheritdoc />
    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
