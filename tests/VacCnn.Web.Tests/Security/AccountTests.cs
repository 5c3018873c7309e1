using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using VacCnn.Engine.Store;
using VacCnn.TestSupport;

namespace VacCnn.Web.Tests.Security;

/// <summary>A host with one small model and the given security settings (over a fresh data folder).</summary>
public sealed class SecuredHost : IDisposable
{
    /// <summary>The admin's password in these tests.</summary>
    public const string Password = "correct horse battery staple";

    /// <summary>The model the hosts load.</summary>
    public const string Model = "mobilenet_v1_0.25_128_quant";

    private readonly TempDir _models = new("vaccnn-sec-models");
    private readonly TempDir _images = new("vaccnn-sec-images");
    private readonly TempDir _data = new("vaccnn-sec-data");

    /// <summary>Starts a host; <paramref name="security"/> are VacCnn:Security:* settings.</summary>
    public SecuredHost(IReadOnlyDictionary<string, string?> security)
    {
        string src = Path.Combine(TestPaths.Models, Model);
        Directory.CreateDirectory(_models.Combine(Model));
        foreach (var f in Directory.GetFiles(src)) File.Copy(f, _models.Combine(Model, Path.GetFileName(f)));
        foreach (var f in Directory.GetFiles(TestPaths.ImageNetSamples).Order(StringComparer.Ordinal).Take(4))
            File.Copy(f, _images.Combine(Path.GetFileName(f)));
        var settings = new Dictionary<string, string?>
        {
            ["VacCnn:Models"] = _models.Path, ["VacCnn:Images"] = _images.Path, ["VacCnn:ImageNet"] = TestPaths.ImageNet,
            ["VacCnn:Data"] = _data.Path, ["VacCnn:Plugins"] = TestPaths.Plugins, ["VacCnn:Device"] = "Cpu",
        };
        foreach (var (k, v) in security) settings["VacCnn:Security:" + k] = v;
        Factory = WebAppFixture.CreateFactory(settings);
    }

    /// <summary>The host.</summary>
    public WebApplicationFactory<Program> Factory { get; }

    /// <summary>The data folder.</summary>
    public string DataDir => _data.Path;

    /// <summary>A cookie-keeping client that does not follow redirects.</summary>
    public HttpClient Client() => Factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

    /// <summary>Signs in through the login form; returns the response of the POST.</summary>
    public static async Task<HttpResponseMessage> SignIn(HttpClient client, string user, string password) =>
        await PostForm(client, "/Login", "/Login", new() { ["user"] = user, ["password"] = password });

    /// <summary>GETs <paramref name="formPage"/> for its antiforgery token, then POSTs the fields to <paramref name="action"/>.</summary>
    public static async Task<HttpResponseMessage> PostForm(HttpClient client, string formPage, string action, Dictionary<string, string> fields)
    {
        string page = await client.GetStringAsync(formPage);
        var token = Regex.Match(page, "name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"");
        Assert.True(token.Success, $"no antiforgery token on {formPage}");
        fields["__RequestVerificationToken"] = WebUtility.HtmlDecode(token.Groups[1].Value);
        return await client.PostAsync(action, new FormUrlEncodedContent(fields));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Factory.Dispose();
        _models.Dispose();
        _images.Dispose();
        _data.Dispose();
    }
}

/// <summary>The admin host used by <see cref="AccountTests"/>: admin "boss" with a configured PBKDF2 hash.</summary>
public sealed class ConfiguredAdminHost() : IDisposable
{
    /// <summary>The host.</summary>
    public SecuredHost Host { get; } = new(new Dictionary<string, string?>
    {
        ["AdminUser"] = "boss",
        ["AdminPasswordHash"] = new PasswordHasher<string>().HashPassword("boss", SecuredHost.Password),
    });

    /// <inheritdoc />
    public void Dispose() => Host.Dispose();
}

/// <summary>Accounts with a configured admin: who may see and do what.</summary>
// In the web collection: WebApplicationFactory hosts started in parallel can pick up each other's configuration.
[Collection(WebCollection.Name)]
public class AccountTests(ConfiguredAdminHost fixture) : IClassFixture<ConfiguredAdminHost>
{
    private SecuredHost Host => fixture.Host;

    [Fact]
    public async Task Anonymous_admin_page_redirects_to_sign_in_and_browsing_stays_open()
    {
        using var client = Host.Client();
        var admin = await client.GetAsync("/Admin");
        Assert.Equal(HttpStatusCode.Redirect, admin.StatusCode);
        Assert.StartsWith("/Login", admin.Headers.Location!.PathAndQuery);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/models")).StatusCode);
    }

    [Fact]
    public async Task Anonymous_cannot_open_the_dashboard_even_from_this_machine_once_an_admin_exists()
    {
        var local = await Host.Factory.Server.SendAsync(c =>
        {
            c.Request.Method = "GET";
            c.Request.Path = "/hangfire";
            c.Connection.RemoteIpAddress = IPAddress.Loopback;
        });
        Assert.Equal(401, local.Response.StatusCode);
    }

    [Fact]
    public async Task Anonymous_evaluate_post_queues_nothing()
    {
        using var client = Host.Client();
        // A valid antiforgery token (from the public sign-in page) does not help: the admin policy runs first.
        var response = await SecuredHost.PostForm(client, "/Login", "/Admin?handler=EvaluateAll", []);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.StartsWith("/Login", response.Headers.Location!.PathAndQuery);
        Assert.Empty(new ResultStore(Host.DataDir).ListRuns());
    }

    [Theory]
    [InlineData("boss", "wrong password!")]
    [InlineData("admin", SecuredHost.Password)] // right password, wrong user
    [InlineData("boss", "")]
    public async Task Wrong_credentials_are_rejected(string user, string password)
    {
        using var client = Host.Client();
        var response = await SecuredHost.SignIn(client, user, password);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("Wrong user name or password", await response.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Redirect, (await client.GetAsync("/Admin")).StatusCode);
    }

    [Fact]
    public async Task Admin_signs_in_enqueues_an_evaluation_and_opens_the_dashboard()
    {
        using var client = Host.Client();
        var signIn = await SecuredHost.SignIn(client, "boss", SecuredHost.Password);
        Assert.Equal(HttpStatusCode.Redirect, signIn.StatusCode);
        Assert.Equal("/Admin", signIn.Headers.Location!.OriginalString);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/Admin")).StatusCode);

        var post = await SecuredHost.PostForm(client, "/Admin", "/Admin?handler=EvaluateModel", new() { ["modelId"] = SecuredHost.Model });
        Assert.Equal(HttpStatusCode.Redirect, post.StatusCode);
        Assert.Contains(new ResultStore(Host.DataDir).ListRuns(), r => r.ModelId == SecuredHost.Model);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/hangfire")).StatusCode);
    }

    [Fact]
    public async Task Antiforgery_is_enforced_for_a_signed_in_admin_and_on_the_sign_in_form()
    {
        using var client = Host.Client();
        Assert.Equal(HttpStatusCode.BadRequest, (await client.PostAsync("/Login",
            new FormUrlEncodedContent(new Dictionary<string, string> { ["user"] = "boss", ["password"] = SecuredHost.Password }))).StatusCode);
        await SecuredHost.SignIn(client, "boss", SecuredHost.Password);
        var noToken = await client.PostAsync("/Admin?handler=EvaluateAll", new FormUrlEncodedContent([]));
        Assert.Equal(HttpStatusCode.BadRequest, noToken.StatusCode);
    }

    [Fact]
    public async Task Setup_page_is_gone_once_an_admin_is_configured()
    {
        using var client = Host.Client();
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/Setup")).StatusCode);
    }
}

/// <summary>Browsing = private, and the first-run setup of an install without an admin.</summary>
[Collection(WebCollection.Name)]
public class PrivateAndSetupTests
{
    [Fact]
    public async Task Private_browsing_needs_an_account_for_pages_and_json()
    {
        using var host = new SecuredHost(new Dictionary<string, string?>
        {
            ["AdminPasswordHash"] = new PasswordHasher<string>().HashPassword("admin", SecuredHost.Password),
            ["Browsing"] = "private",
        });
        using var client = host.Client();
        var page = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
        Assert.StartsWith("/Login", page.Headers.Location!.PathAndQuery);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/models")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/Login")).StatusCode);

        await SecuredHost.SignIn(client, "admin", SecuredHost.Password);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/models")).StatusCode);
    }

    [Fact]
    public async Task First_run_setup_works_from_this_machine_only_stores_a_hash_and_closes_itself()
    {
        using var host = new SecuredHost(new Dictionary<string, string?>());
        var remote = await host.Factory.Server.SendAsync(c =>
        {
            c.Request.Method = "GET";
            c.Request.Path = "/Setup";
            c.Connection.RemoteIpAddress = IPAddress.Parse("203.0.113.7");
        });
        Assert.Equal(404, remote.Response.StatusCode);
        // No account yet: a remote client cannot reach the admin page either.
        var remoteAdmin = await host.Factory.Server.SendAsync(c =>
        {
            c.Request.Method = "GET";
            c.Request.Path = "/Admin";
            c.Connection.RemoteIpAddress = IPAddress.Parse("203.0.113.7");
        });
        Assert.Equal(302, remoteAdmin.Response.StatusCode);

        using var client = host.Client(); // loopback
        var tooShort = await SecuredHost.PostForm(client, "/Setup", "/Setup", new() { ["user"] = "root", ["password"] = "short" });
        Assert.Equal(HttpStatusCode.BadRequest, tooShort.StatusCode);
        var created = await SecuredHost.PostForm(client, "/Setup", "/Setup", new() { ["user"] = "root", ["password"] = SecuredHost.Password });
        Assert.Equal(HttpStatusCode.Redirect, created.StatusCode);

        string stored = File.ReadAllText(Path.Combine(host.DataDir, "admin-account.json"));
        Assert.DoesNotContain(SecuredHost.Password, stored);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/Setup")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/Admin")).StatusCode); // signed in by the setup

        using var stranger = host.Client(); // loopback, but an account exists now: sign-in needed
        Assert.Equal(HttpStatusCode.Redirect, (await stranger.GetAsync("/Admin")).StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await SecuredHost.SignIn(stranger, "root", SecuredHost.Password)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await stranger.GetAsync("/Admin")).StatusCode);
    }
}
