using VacCnn.TestSupport;
using VacCnn.Web.Hosting;

namespace VacCnn.Web.Tests.Distributed;

/// <summary>Bad role / storage settings stop the host at start-up with a message that says what to set.</summary>
[Collection(WebCollection.Name)]
public class RoleConfigurationTests
{
    private static Dictionary<string, string?> Settings(string data) => new()
    {
        ["VacCnn:Models"] = TestPaths.Models, ["VacCnn:ImageNet"] = TestPaths.ImageNet, ["VacCnn:Data"] = data,
        ["VacCnn:Plugins"] = TestPaths.Plugins, ["VacCnn:Images"] = "",
    };

    [Theory]
    [InlineData("VacCnn:Role", "sideways", "must be one of: all, web, worker")]
    [InlineData("VacCnn:Storage", "mongodb", "must be 'embedded' or 'postgres'")]
    [InlineData("VacCnn:Storage", "postgres", "VacCnn:PostgreSql (the connection string) is not set")]
    public void A_bad_value_is_named_at_start_up(string key, string value, string expected)
    {
        using var data = new TempDir();
        var settings = Settings(data.Path);
        settings[key] = value;
        using var factory = WebAppFixture.CreateFactory(settings);
        var e = Assert.ThrowsAny<Exception>(() => factory.CreateClient());
        Assert.Contains(expected, e.ToString());
    }

    [Fact]
    public void A_worker_role_without_a_shared_queue_is_refused()
    {
        using var data = new TempDir();
        var settings = Settings(data.Path);
        settings[VacCnnRoles.RoleKey] = "web";
        using var factory = WebAppFixture.CreateFactory(settings);
        var e = Assert.ThrowsAny<Exception>(() => factory.CreateClient());
        Assert.Contains("needs VacCnn:Storage = 'postgres'", e.ToString());
    }
}
