using VacCnn.Engine.Configuration;
using VacCnn.Web.Hosting;

namespace VacCnn.Web.Tests;

public sealed class PathResolutionTests
{
    [Fact]
    public void RelativePathsAreResolvedAgainstTheContentRootAndEmptyStaysEmpty()
    {
        var o = new VacCnnOptions { Models = "../models", Images = "", ImageNet = "/abs/imagenet", Data = "data", Plugins = "" };
        VacCnnHosting.ResolvePaths(o, "/srv/app/content");
        Assert.Equal("/srv/app/models", o.Models);
        Assert.Equal("", o.Images);
        Assert.Equal("/abs/imagenet", o.ImageNet);
        Assert.Equal("/srv/app/content/data", o.Data);
        Assert.Equal("", o.Plugins);
    }

    [Fact]
    public void LoopbackFilterAcceptsOnlyLoopbackAddresses()
    {
        Assert.True(VacCnn.Web.Security.AdminAccess.IsLoopback(System.Net.IPAddress.Loopback));
        Assert.True(VacCnn.Web.Security.AdminAccess.IsLoopback(System.Net.IPAddress.IPv6Loopback));
        Assert.True(VacCnn.Web.Security.AdminAccess.IsLoopback(System.Net.IPAddress.Parse("::ffff:127.0.0.1")));
        Assert.False(VacCnn.Web.Security.AdminAccess.IsLoopback(System.Net.IPAddress.Parse("192.168.1.10")));
        Assert.False(VacCnn.Web.Security.AdminAccess.IsLoopback(null));
    }
}
