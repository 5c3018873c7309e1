using Microsoft.AspNetCore.Mvc.RazorPages;
using VacCnn.Web.Services;

namespace VacCnn.Web.Pages;

/// <summary>The models page: every discovered model with its accuracy on the configured image set.</summary>
public sealed class IndexModel(VacCnnQueries queries) : PageModel
{
    /// <summary>What the page shows.</summary>
    public ModelsOverview Overview { get; private set; } = null!;

    /// <summary>Loads the overview.</summary>
    public void OnGet() => Overview = queries.Models();
}
