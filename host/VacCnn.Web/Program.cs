using VacCnn.Web.Api;
using VacCnn.Web.Hosting;
using VacCnn.Web.Security;

// Thin host: configuration, DI and HTTP plumbing only; every decision about models and results is the engine's.
if (AdminPasswordCommand.TryRun(args, out int exitCode)) return exitCode;

var builder = WebApplication.CreateBuilder(VacCnnHosting.BuilderOptions(args));
var role = VacCnnRoles.Read(builder.Configuration);
// A worker serves no pages: it listens on a free loopback port only for /healthz, so several can share a machine.
if (role == VacCnnRole.Worker) builder.WebHost.UseSetting(WebHostDefaults.ServerUrlsKey, "http://127.0.0.1:0");
builder.AddVacCnn();
builder.AddVacCnnSecurity();
builder.Services.AddRazorPages();
builder.Services.AddProblemDetails();
builder.Services.AddOpenApi();

var app = builder.Build();
// Fail fast: validates the configuration and loads plugins/models now, not on the first request.
app.StartVacCnnEngine();
if (role == VacCnnRole.Worker)
{
    app.MapGet("/healthz", () => Results.Text("worker"));
    app.Run();
    return 0;
}

if (!app.Environment.IsDevelopment()) app.UseExceptionHandler("/Error");
app.UseVacCnnSecurityHeaders();
app.UseStaticFiles();
app.UseAuthentication();
app.UseVacCnnHangfireDashboard();
app.UseRouting();
app.UseAuthorization();
app.UseAntiforgery();
app.MapRazorPages();
app.MapVacCnnApi();

app.Run();
return 0;

/// <summary>The web host's entry point; public and partial so that WebApplicationFactory&lt;Program&gt; can start it.</summary>
public partial class Program { }
