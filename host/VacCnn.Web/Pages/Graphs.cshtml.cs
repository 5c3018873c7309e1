using Microsoft.AspNetCore.Mvc.RazorPages;

namespace VacCnn.Web.Pages;

/// <summary>
/// Two models' distribution graphs side by side, aligned to the same reference, with linked hover and selection and
/// the classes whose neighbourhoods differ most (<c>/api/compare/graphs</c>). A shell like Compare: the choice of
/// models lives in the query string and the browser draws from the JSON API.
/// </summary>
public sealed class GraphsModel(IWebHostEnvironment environment) : PageModel
{
    /// <summary>Version token of the page's modules (see <see cref="ModuleVersion"/>).</summary>
    public string AssetVersion => ModuleVersion.Of(environment);

    /// <summary>Nothing to load: wwwroot/js/compare/graphs.js reads the query string and the API.</summary>
    public void OnGet() { }
}
