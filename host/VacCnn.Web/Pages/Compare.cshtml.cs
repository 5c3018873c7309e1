using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace VacCnn.Web.Pages;

/// <summary>
/// The coordinated comparison views (paper §5: overview A, distribution graph B, task sidebar C, explanations D,
/// supplemental E). The page is a shell: the views are drawn in the browser from the JSON API, and the task lives in
/// the query string, so the server keeps no state for it.
/// </summary>
public sealed class CompareModel(IWebHostEnvironment environment) : PageModel
{
    /// <summary>Folder (under wwwroot) of the page's JavaScript modules.</summary>
    public const string ModulesFolder = "js/compare";

    private static readonly ConcurrentDictionary<string, string> Versions = new();

    /// <summary>
    /// One hash over every module of the page. The entry module passes it on to the modules it imports, so a change in
    /// any of them changes every URL (asp-append-version only versions the file a tag names, not its imports).
    /// </summary>
    public string AssetVersion => Versions.GetOrAdd(environment.WebRootPath ?? "", ComputeVersion);

    /// <summary>Nothing to load: wwwroot/js/compare/*.js reads the query string and the API.</summary>
    public void OnGet() { }

    private static string ComputeVersion(string webRoot)
    {
        string folder = Path.Combine(webRoot, ModulesFolder);
        if (!Directory.Exists(folder)) return "0";
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (string file in Directory.GetFiles(folder, "*.js").Order(StringComparer.Ordinal))
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(file)));
            hash.AppendData(System.IO.File.ReadAllBytes(file));
        }
        return Convert.ToHexString(hash.GetHashAndReset())[..16].ToLowerInvariant();
    }
}
