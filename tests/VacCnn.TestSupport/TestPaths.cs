namespace VacCnn.TestSupport;

/// <summary>Where the repository, the shared read-only data and the built plugins are, seen from a test.</summary>
public static class TestPaths
{
    /// <summary>The repository root (the folder holding VacCnn.sln).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>../shared/data beside the repository (override with VACCNN_SHARED_DATA).</summary>
    public static string SharedData { get; } =
        Environment.GetEnvironmentVariable("VACCNN_SHARED_DATA") is { Length: > 0 } env
            ? Path.GetFullPath(env)
            : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "data"));

    /// <summary>The real ONNX models.</summary>
    public static string Models => Path.Combine(SharedData, "models");

    /// <summary>1000 labelled ImageNet images, one per class.</summary>
    public static string ImageNetSamples => Path.Combine(SharedData, "imagenet-samples");

    /// <summary>Class index and WordNet hierarchy.</summary>
    public static string ImageNet => Path.Combine(SharedData, "imagenet");

    /// <summary>Built plugins (each in its own subfolder).</summary>
    public static string Plugins => Path.Combine(RepoRoot, "artifacts", "plugins");

    /// <summary>Built fixture plugins of tests/fixtures (each in its own subfolder).</summary>
    public static string FixturePlugins => Path.Combine(RepoRoot, "artifacts", "fixture-plugins");

    /// <summary>Copies each built plugin folder (a full path, e.g. under <see cref="Plugins"/>) into <paramref name="pluginsRoot"/>,
    /// as an administrator would deploy it; a plugin that was not built is an error naming it.</summary>
    public static void CopyPlugins(string pluginsRoot, params string[] pluginFolders)
    {
        foreach (string source in pluginFolders)
        {
            if (!Directory.Exists(source)) throw new DirectoryNotFoundException($"plugin not built: {source}");
            string target = Path.Combine(pluginsRoot, Path.GetFileName(source));
            Directory.CreateDirectory(target);
            foreach (string f in Directory.GetFiles(source)) File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
        }
    }

    /// <summary>
    /// A program of this repository (<paramref name="projectFolder"/>, relative to the root) built with the same
    /// configuration, framework and runtime as the calling test assembly, e.g. ("host/VacCnn.Web", "VacCnn.Web.dll").
    /// </summary>
    public static string BuiltAssembly(string projectFolder, string dllName)
    {
        // …/tests/<Project>/bin/<Configuration>/<framework>/<runtime>/ → <projectFolder>/bin/<Configuration>/<framework>/<runtime>/
        var runtimeDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
        var frameworkDir = runtimeDir.Parent!;
        string dll = Path.Combine(RepoRoot, projectFolder, "bin", frameworkDir.Parent!.Name, frameworkDir.Name, runtimeDir.Name, dllName);
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"{dllName} not built at {dll}", dll);
    }

    /// <summary>A TCP port on the loopback interface that was free a moment ago.</summary>
    public static int FreeLoopbackPort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>A new empty folder under the system temp directory.</summary>
    public static string NewTempDir(string prefix = "vaccnn-test")
    {
        string dir = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "VacCnn.sln")))
                return dir.FullName;
        throw new InvalidOperationException("VacCnn.sln not found above " + AppContext.BaseDirectory);
    }
}
