using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using VacCnn.Web.Security;

namespace VacCnn.Web.Pages;

/// <summary>
/// First-run setup: creates the admin account. Exists only while there is no account, and only for requests from
/// this machine (anyone who can reach the site could otherwise claim it); 404 otherwise.
/// </summary>
[AllowAnonymous]
public sealed class SetupModel(AdminAccounts accounts) : PageModel
{
    /// <summary>Why the last attempt failed.</summary>
    public string? Error { get; private set; }

    /// <summary>Shows the form (or 404).</summary>
    public IActionResult OnGet() => Available() ? Page() : NotFound();

    /// <summary>Creates the account and signs the new admin in.</summary>
    public async Task<IActionResult> OnPostAsync(string? user, string? password)
    {
        if (!Available()) return NotFound();
        Error = accounts.CreateFirst(user, password);
        if (Error != null)
        {
            Response.StatusCode = StatusCodes.Status400BadRequest;
            return Page();
        }
        await HttpContext.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, AdminAccess.AdminPrincipal(user!.Trim()));
        return RedirectToPage("/Admin");
    }

    private bool Available() => accounts.Current == null && AdminAccess.IsLoopback(HttpContext.Connection.RemoteIpAddress);
}
