using Microsoft.AspNetCore.Mvc.RazorPages;
using VacCnn.Web.Services;

namespace VacCnn.Web.Pages;

/// <summary>The plugins page: what the plugins folder held and what each plugin provides.</summary>
public sealed class PluginsModel(VacCnnQueries queries) : PageModel
{
    /// <summary>What the page shows.</summary>
    public PluginsOverview Overview { get; private set; } = null!;

    /// <summary>Loads the overview.</summary>
    public void OnGet() => Overview = queries.Plugins();
}
