using System.Text.Json;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Cli;

/// <summary>The vaccnn command line, run as a real process.</summary>
public class CliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => VaccnnProcess.Run(args);

    [Fact]
    public void Roots_gives_the_papers_root_of_every_class()
    {
        var (code, stdout, _) = Run("roots", "--imagenet", TestPaths.ImageNet, "--json");
        Assert.Equal(0, code);
        var rows = JsonDocument.Parse(stdout).RootElement.EnumerateArray().ToList();
        Assert.Equal(1000, rows.Count);
        Assert.Equal("n01440764", rows[0].GetProperty("wnid").GetString());
        Assert.Equal("animal", rows[0].GetProperty("root").GetString()); // tench
        var counts = rows.GroupBy(r => r.GetProperty("root").GetString()!).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(398, counts["animal"]);
        Assert.Equal(522, counts["artifact"]);
        Assert.Equal(42, counts["MISC"]);
    }

    [Fact]
    public void Classify_names_the_right_class_for_real_photos()
    {
        string goldfish = Directory.GetFiles(TestPaths.ImageNetSamples, "n01443537_*")[0];
        string flamingo = Directory.GetFiles(TestPaths.ImageNetSamples, "n02007558_*")[0];
        var (code, stdout, stderr) = Run("classify", "--models", TestPaths.Models, "--plugins", TestPaths.Plugins,
            "--model", "mobilenet_v2_1.0_224_quant", "--top", "3", goldfish, flamingo, "--json");
        Assert.True(code == 0, stderr);
        var results = JsonDocument.Parse(stdout).RootElement.EnumerateArray().ToList();
        var top = results[0].GetProperty("top");
        Assert.Equal(3, top.GetArrayLength());
        Assert.Equal(1, top[0].GetProperty("index").GetInt32());
        Assert.Equal("goldfish", top[0].GetProperty("label").GetString());
        Assert.Equal("n02007558", results[1].GetProperty("top")[0].GetProperty("wnid").GetString());
        double p0 = top[0].GetProperty("probability").GetDouble(), p1 = top[1].GetProperty("probability").GetDouble();
        Assert.True(p0 >= p1 && p0 <= 1);
    }

    [Theory]
    [InlineData("evaluate --models /nonexistent/models --images /tmp --data /tmp/x", "--models")]
    [InlineData("classify --models {models} --model no_such_model {image}", "no_such_model")]
    [InlineData("classify --models {models} --model mobilenet_v2_1.0_224_quant /nonexistent.jpg", "/nonexistent.jpg")]
    [InlineData("models --models {models} --device quantum", "--device")]
    [InlineData("frobnicate", "unknown command")]
    [InlineData("evaluate --models {models} --images {images} --data /tmp/x --batch-size 0", "--batch-size")]
    public void Bad_input_gives_a_one_line_error_and_a_nonzero_exit_code(string commandLine, string mentioned)
    {
        string image = Directory.GetFiles(TestPaths.ImageNetSamples)[0];
        var args = commandLine.Split(' ').Select(a => a.Replace("{models}", TestPaths.Models).Replace("{image}", image)
            .Replace("{images}", TestPaths.ImageNetSamples)).Concat(["--plugins", TestPaths.Plugins]).ToArray();
        if (args[0] == "frobnicate") args = ["frobnicate"];
        VaccnnProcess.AssertOneLineError(Run(args), mentioned);
    }

    [Fact]
    public void Models_lists_every_shared_model_with_its_complexity()
    {
        var (code, stdout, stderr) = Run("models", "--models", TestPaths.Models, "--plugins", TestPaths.Plugins, "--json");
        Assert.True(code == 0, stderr);
        var rows = JsonDocument.Parse(stdout).RootElement.EnumerateArray().ToList();
        Assert.Equal(11, rows.Count);
        Assert.All(rows, r => Assert.Equal("loaded", r.GetProperty("status").GetString()));
        Assert.All(rows, r => Assert.True(r.GetProperty("parameters").GetInt64() > 100_000));
    }
}
