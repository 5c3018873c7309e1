using Microsoft.AspNetCore.Mvc.RazorPages;

namespace VacCnn.Web.Pages;

/// <summary>
/// The coordinated comparison views (paper §5: overview A, distribution graph B, task sidebar C, explanations D,
/// supplemental E). The page is a shell: the views are drawn in the browser from the JSON API, and the task lives in
/// the query string, so the server keeps no state for it.
/// </summary>
public sealed class CompareModel(IWebHostEnvironment environment) : PageModel
{
    /// <summary>Version token of the page's modules (see <see cref="ModuleVersion"/>).</summary>
    public string AssetVersion => ModuleVersion.Of(environment);

    /// <summary>Nothing to load: wwwroot/js/compare/*.js reads the query string and the API.</summary>
    public void OnGet() { }
}
