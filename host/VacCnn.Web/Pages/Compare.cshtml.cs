using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.Options;
using VacCnn.Engine.Configuration;
using VacCnn.Web.Api;
using VacCnn.Web.Security;

namespace VacCnn.Web.Pages;

/// <summary>
/// The coordinated comparison views (paper §5: overview A, distribution graph B, task sidebar C, explanations D,
/// supplemental E). The page is a shell: the views are drawn in the browser from the JSON API, and the task lives in
/// the query string, so the server keeps no state for it.
/// </summary>
public sealed class CompareModel(IWebHostEnvironment environment, IOptions<VacCnnOptions> options, IOptions<SecurityOptions> security) : PageModel
{
    /// <summary>Whether the photo upload is offered (the same rule as POST /api/images).</summary>
    public bool UploadsAllowed => ExplanationEndpoints.UploadsAllowed(options.Value, security.Value);

    /// <summary>Largest upload, in MB.</summary>
    public int UploadMegabytes => options.Value.UploadMegabytes;

    /// <summary>Version token of the page's modules (see <see cref="ModuleVersion"/>).</summary>
    public string AssetVersion => ModuleVersion.Of(environment);

    /// <summary>Nothing to load: wwwroot/js/compare/*.js reads the query string and the API.</summary>
    public void OnGet() { }
}
