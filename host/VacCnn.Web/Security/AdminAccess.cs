using System.Net;
using System.Security.Claims;
using Hangfire.Dashboard;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;

namespace VacCnn.Web.Security;

/// <summary>
/// Who may do what. The <see cref="AdminPolicy"/> guards the Admin page (evaluate, schedule), the Hangfire dashboard
/// and the setup page's sign-in: a signed-in admin; or — while no admin account exists at all — a request from this
/// machine (loopback), so that a fresh single-user install works before anyone sets up an account. With
/// <c>Browsing = private</c> every page and JSON endpoint also needs a signed-in account (or, without an account,
/// a local request).
/// </summary>
public static class AdminAccess
{
    /// <summary>Authorisation policy of admin actions.</summary>
    public const string AdminPolicy = "VacCnnAdmin";

    /// <summary>Authorisation policy of reading (fallback policy in private mode).</summary>
    public const string ReaderPolicy = "VacCnnReader";

    /// <summary>The admin role claim value.</summary>
    public const string AdminRole = "admin";

    /// <summary>Cookie authentication, the two policies, page conventions and the account store.</summary>
    public static WebApplicationBuilder AddVacCnnSecurity(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<SecurityOptions>().Bind(builder.Configuration.GetSection(SecurityOptions.Section));
        services.AddSingleton<AdminAccounts>();
        services.AddHttpContextAccessor();
        services.AddSingleton<IAuthorizationHandler, AccessHandler>();
        services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(o =>
        {
            o.LoginPath = "/Login";
            o.AccessDeniedPath = "/Login";
            o.Cookie.Name = "vaccnn.auth";
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.ExpireTimeSpan = TimeSpan.FromHours(8);
            o.SlidingExpiration = true;
            // JSON clients get status codes, not a redirect to an HTML form.
            o.Events.OnRedirectToLogin = c => ApiStatus(c, StatusCodes.Status401Unauthorized);
            o.Events.OnRedirectToAccessDenied = c => ApiStatus(c, StatusCodes.Status403Forbidden);
        });
        services.AddAuthorizationBuilder()
            .AddPolicy(AdminPolicy, p => p.AddRequirements(new AccessRequirement(adminOnly: true)))
            .AddPolicy(ReaderPolicy, p => p.AddRequirements(new AccessRequirement(adminOnly: false)));
        // Private browsing: every endpoint without its own [Authorize]/[AllowAnonymous] needs a reader. Decided when
        // the options are first read, so settings from any configuration source count.
        services.AddOptions<AuthorizationOptions>().Configure<IOptions<SecurityOptions>>((auth, security) =>
        {
            if (security.Value.IsPrivate)
                auth.FallbackPolicy = new AuthorizationPolicyBuilder().AddRequirements(new AccessRequirement(adminOnly: false)).Build();
        });
        return builder;
    }

    private static Task ApiStatus(Microsoft.AspNetCore.Authentication.RedirectContext<CookieAuthenticationOptions> c, int status)
    {
        if (c.Request.Path.StartsWithSegments("/api") || c.Request.Path.StartsWithSegments("/openapi") || c.Request.Path.StartsWithSegments("/hangfire"))
            c.Response.StatusCode = status;
        else
            c.Response.Redirect(c.RedirectUri);
        return Task.CompletedTask;
    }

    /// <summary>True for 127.0.0.0/8, ::1 and IPv4-mapped loopback; unknown is not local.</summary>
    public static bool IsLoopback(IPAddress? address) =>
        address != null && IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);

    /// <summary>The claims of a signed-in admin.</summary>
    public static ClaimsPrincipal AdminPrincipal(string user) => new(new ClaimsIdentity(
        [new Claim(ClaimTypes.Name, user), new Claim(ClaimTypes.Role, AdminRole)], CookieAuthenticationDefaults.AuthenticationScheme));

    /// <summary>Admin (or reader) access as described on <see cref="AdminAccess"/>.</summary>
    public sealed class AccessRequirement(bool adminOnly) : IAuthorizationRequirement
    {
        /// <summary>True: admins only; false: any signed-in account.</summary>
        public bool AdminOnly { get; } = adminOnly;
    }

    private sealed class AccessHandler(AdminAccounts accounts, IHttpContextAccessor http) : AuthorizationHandler<AccessRequirement>
    {
        protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, AccessRequirement requirement)
        {
            var user = context.User;
            bool signedIn = user.Identity?.IsAuthenticated == true;
            if (signedIn && (!requirement.AdminOnly || user.IsInRole(AdminRole))) context.Succeed(requirement);
            else if (accounts.Current == null && IsLoopback(HttpContextOf(context)?.Connection.RemoteIpAddress)) context.Succeed(requirement);
            return Task.CompletedTask;
        }

        private HttpContext? HttpContextOf(AuthorizationHandlerContext context) => context.Resource as HttpContext ?? http.HttpContext;
    }
}

/// <summary>The Hangfire dashboard (it can enqueue and delete jobs) answers only what the admin policy allows.</summary>
public sealed class AdminDashboardFilter : IDashboardAsyncAuthorizationFilter
{
    /// <inheritdoc />
    public async Task<bool> AuthorizeAsync(DashboardContext context)
    {
        var http = context.GetHttpContext();
        var auth = http.RequestServices.GetRequiredService<IAuthorizationService>();
        return (await auth.AuthorizeAsync(http.User, http, AdminAccess.AdminPolicy)).Succeeded;
    }
}
