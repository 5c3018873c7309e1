using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using VacCnn.Web.Security;

namespace VacCnn.Web.Pages;

/// <summary>Sign-in and sign-out of the admin account (cookie authentication; the form carries an antiforgery token).</summary>
[AllowAnonymous]
public sealed class LoginModel(AdminAccounts accounts, ILogger<LoginModel> logger) : PageModel
{
    /// <summary>Where to go after signing in (local paths only).</summary>
    [BindProperty(SupportsGet = true)] public string? ReturnUrl { get; set; }

    /// <summary>Why the last attempt failed.</summary>
    public string? Error { get; private set; }

    /// <summary>True while no admin account exists.</summary>
    public bool NoAccount { get; private set; }

    /// <summary>Shows the form.</summary>
    public void OnGet() => NoAccount = accounts.Current == null;

    /// <summary>Checks the credentials and sets the cookie.</summary>
    public async Task<IActionResult> OnPostAsync(string? user, string? password)
    {
        if (!accounts.Verify(user, password))
        {
            logger.LogWarning("failed sign-in for {User} from {Address}", user, HttpContext.Connection.RemoteIpAddress);
            // A fixed pause makes guessing slower without locking the real admin out.
            await Task.Delay(TimeSpan.FromMilliseconds(500));
            NoAccount = accounts.Current == null;
            Error = "Wrong user name or password.";
            Response.StatusCode = StatusCodes.Status401Unauthorized;
            return Page();
        }
        await HttpContext.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, AdminAccess.AdminPrincipal(user!));
        return LocalRedirect(Url.IsLocalUrl(ReturnUrl) ? ReturnUrl! : "/Admin");
    }

    /// <summary>Clears the cookie.</summary>
    public async Task<IActionResult> OnPostLogoutAsync()
    {
        await HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return RedirectToPage("/Index");
    }
}
