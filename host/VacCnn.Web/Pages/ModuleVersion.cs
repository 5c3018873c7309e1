using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace VacCnn.Web.Pages;

/// <summary>
/// One hash over every module of the pages' JavaScript folder. An entry module passes it on to the modules it
/// imports, so a change in any of them changes every URL (asp-append-version only versions the file a tag names,
/// not its imports). Shared by every page whose entry module lives in <see cref="Folder"/>.
/// </summary>
public static class ModuleVersion
{
    /// <summary>Folder (under wwwroot) of the pages' JavaScript modules.</summary>
    public const string Folder = "js/compare";

    private static readonly ConcurrentDictionary<string, string> Versions = new();

    /// <summary>The hash for this web root (computed once per process).</summary>
    public static string Of(IWebHostEnvironment environment) => Versions.GetOrAdd(environment.WebRootPath ?? "", Compute);

    private static string Compute(string webRoot)
    {
        string folder = Path.Combine(webRoot, Folder);
        if (!Directory.Exists(folder)) return "0";
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (string file in Directory.GetFiles(folder, "*.js").Order(StringComparer.Ordinal))
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(file)));
            hash.AppendData(File.ReadAllBytes(file));
        }
        return Convert.ToHexString(hash.GetHashAndReset())[..16].ToLowerInvariant();
    }
}
