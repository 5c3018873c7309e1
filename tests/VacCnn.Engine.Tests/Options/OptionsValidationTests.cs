using VacCnn.Engine.Configuration;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Options;

/// <summary>Numeric settings are checked against the bounds their [Range] attribute declares, both ends.</summary>
public sealed class OptionsValidationTests
{
    private static VacCnnOptions Valid(TempDir dir) => new()
    {
        Models = TestPaths.Models, ImageNet = TestPaths.ImageNet, Data = dir.Combine("data"),
    };

    [Fact]
    public void Defaults_are_within_their_bounds()
    {
        using var dir = new TempDir();
        Assert.Empty(Valid(dir).Validate());
    }

    [Theory]
    [InlineData(nameof(VacCnnOptions.ShardSize), 0, "from 1 to 100000")]
    [InlineData(nameof(VacCnnOptions.ShardSize), 100_001, "from 1 to 100000")]
    [InlineData(nameof(VacCnnOptions.BatchSize), 1025, "from 1 to 1024")]
    [InlineData(nameof(VacCnnOptions.ShardLeaseSeconds), 1, "from 2 to 86400")]
    [InlineData(nameof(VacCnnOptions.ExplanationWorkers), 65, "from 1 to 64")]
    [InlineData(nameof(VacCnnOptions.ExplanationDiskMegabytes), 0, "from 1 to 1048576")]
    public void A_value_outside_its_range_is_named_with_the_range(string setting, int value, string range)
    {
        using var dir = new TempDir();
        var o = Valid(dir);
        typeof(VacCnnOptions).GetProperty(setting)!.SetValue(o, value);
        var problem = Assert.Single(o.Validate());
        Assert.Equal($"VacCnn:{setting} = {value} must be {range}.", problem);
    }
}
