using System.Diagnostics;
using System.Text.Json;
using VacCnn.Contracts;
using VacCnn.TestSupport;
using Xunit.Abstractions;

namespace VacCnn.Models.Onnx.Tests;

/// <summary>A fact that is skipped, with the reason, when /usr/bin/python3 cannot import torch, torchvision and onnx.</summary>
public sealed class TorchFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> Missing = new(() =>
    {
        try
        {
            var (code, text) = TorchExportTests.Run(TorchExportTests.Python, "-c \"import torch, torchvision, onnx\"", 120);
            return code == 0 ? null : $"{TorchExportTests.Python} cannot import torch/torchvision/onnx: {text.Trim().Split('\n')[^1]}";
        }
        catch (Exception e) { return $"{TorchExportTests.Python} cannot be run: {e.Message}"; }
    });

    public TorchFactAttribute()
    {
        if (Missing.Value is { } reason) Skip = reason + " (apt-get install python3-torch python3-torchvision python3-onnx)";
    }
}

/// <summary>tools/export_torchvision.py output loads in the plugin; parameter counts agree with PyTorch.</summary>
public sealed class TorchExportTests(ITestOutputHelper output)
{
    internal const string Python = "/usr/bin/python3";

    internal static (int Code, string Output) Run(string file, string args, int timeoutSeconds)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(timeoutSeconds * 1000)) { p.Kill(true); throw new TimeoutException($"{file} {args} ran over {timeoutSeconds} s"); }
        return (p.ExitCode, stdout + stderr.Result);
    }

    [TorchFact]
    public void Exported_squeezenet_and_resnet18_load_classify_and_count_like_pytorch()
    {
        using var tmp = new TempDir("vaccnn-torch");
        string script = Path.Combine(TestPaths.RepoRoot, "tools", "export_torchvision.py");
        var (code, text) = Run(Python, $"\"{script}\" squeezenet1_1 resnet18 --out \"{tmp.Path}\" --seed 3", 300);
        output.WriteLine(text);
        Assert.True(code == 0, text);

        var log = new List<string>();
        var results = new OnnxModelSource().Discover(new ModelSourceContext(tmp.Path, ExecutionDevice.Cpu, log.Add));
        try
        {
            Assert.Equal(["resnet18", "squeezenet1_1"], results.Select(r => r.Id).Order(StringComparer.Ordinal));
            foreach (var r in results)
            {
                Assert.True(r.Error == null, r.Error);
                var card = r.Classifier!.Card;
                using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(tmp.Path, r.Id, "model.json")));
                long torchParams = json.RootElement.GetProperty("torchParameters").GetInt64();
                output.WriteLine($"{r.Id}: plugin {card.Parameters:N0} vs PyTorch {torchParams:N0} parameters, {card.MultiplyAccumulates:N0} MACs, target {card.DefaultTargetLayer}");
                // BatchNorm folded into Conv by the exporter turns BN's 2·C parameters into a C-element bias: < 0.1 %.
                Assert.InRange(card.Parameters, torchParams * 0.999, torchParams * 1.001);
                Assert.Equal(1000, card.ClassCount);
                Assert.Equal(224, card.Preprocessing.CropWidth);
                Assert.Empty(card.Warnings); // the manifest names the target tensor, which exists in the graph
                Assert.Equal(r.Id == "resnet18" ? "layer4" : "features.12", card.DefaultTargetLayer);

                var images = TestImages.Load(card.Preprocessing, TestImages.Spread(2));
                var p = r.Classifier.PredictProbabilities(images);
                Assert.Equal([2, 1000], p.Shape);
                Assert.All(p.Data, v => Assert.False(float.IsNaN(v)));
                Assert.Equal(1.0, p.Item(0).ToArray().Sum(v => (double)v), 4);
            }
            // Published MACs (batch 1, 224²): resnet18 1.82 G, squeezenet1_1 0.35 G (torchvision docs: 1.81 / 0.35 GFLOPS as MACs).
            Assert.InRange(results.Single(r => r.Id == "resnet18").Classifier!.Card.MultiplyAccumulates, 1.7e9, 1.9e9);
            Assert.InRange(results.Single(r => r.Id == "squeezenet1_1").Classifier!.Card.MultiplyAccumulates, 0.33e9, 0.37e9);
        }
        finally
        {
            foreach (var r in results) r.Classifier?.Dispose();
        }
    }
}
