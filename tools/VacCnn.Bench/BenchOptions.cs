namespace VacCnn.Bench;

/// <summary>Command-line options of the benchmark.</summary>
internal sealed record BenchOptions(string Shared, int ImageCount, bool Torch, HashSet<string> Sections, string TorchCache, bool Quick = false, int ScaleImages = 50_000)
{
    public string Models => Path.Combine(Shared, "models");
    public string Samples => Path.Combine(Shared, "imagenet-samples");
    public string ImageNet => Path.Combine(Shared, "imagenet");

    public static BenchOptions Parse(string[] args)
    {
        string shared = FindShared();
        int count = 200, scale = 50_000;
        bool torch = true, quick = false;
        var sections = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        string cache = Path.Combine(Path.GetTempPath(), "vaccnn-torchvision-cache");
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--shared": shared = args[++i]; break;
                case "--images": count = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--no-torch": torch = false; break;
                case "--section": sections.Add(args[++i]); break;
                case "--torch-cache": cache = args[++i]; break;
                case "--scale-images": scale = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--quick": quick = true; break; // tiny sizes: checks that a section runs, figures meaningless
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }
        if (sections.Count == 0) sections.Add("evaluation");
        if (sections.Remove("all")) sections.UnionWith(["evaluation", "passes", "analytics", "explain", "tsne", "cluster"]);
        return new BenchOptions(Path.GetFullPath(shared), count, torch, sections, cache, quick, scale);
    }

    private static string FindShared() => RepoRoot() is { } root ? Path.Combine(root, "..", "shared", "data") : "../shared/data";

    /// <summary>The checkout the benchmark runs from (the folder holding VacCnn.sln), or null.</summary>
    internal static string? RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "VacCnn.sln"))) return dir.FullName;
        return null;
    }

    /// <summary>A file or folder of the checkout, e.g. Repo("tools", "bench_torch.py").</summary>
    internal static string Repo(params string[] parts) =>
        Path.Combine([RepoRoot() ?? throw new InvalidOperationException("run the benchmark from a checkout"), .. parts]);
}
