using VacCnn.Contracts;
using VacCnn.TestSupport;
using Xunit.Abstractions;

namespace VacCnn.Models.Onnx.Tests.Backward;

/// <summary>
/// The real ResNet-18 backbone shipped in the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18 (0.23.1:
/// DnnImageModels/ResNet18Onnx/ResNet18.onnx, opset 8, IR 3, fixed batch 1, ends in a 7×7 AveragePool to [1,512,1,1])
/// with a random linear head appended here (Flatten → Gemm 512 → 1000, N(0, 0.05²) weights, seed 18), loaded through
/// the plugin like any model folder. Checks: the plugin's default layer is the last 4-D map before pooling; the layer
/// gradient against central differences on the graph cut at that layer and the exact GAP→FC identity; the input
/// gradient against central differences of the network with its ReLU/MaxPool pattern frozen (see
/// <see cref="RealModelGradientTests.InputDirectionalErrors"/>).
/// </summary>
public sealed class ResNet18BackboneTests(ITestOutputHelper output)
{
    private const int Classes = ResNet18Backbone.Classes;

    [Fact]
    public void Gradients_at_the_default_layer_and_the_input_match_finite_differences()
    {
        using var tmp = new TempDir("vaccnn-resnet18-nuget");
        var w = ResNet18Backbone.WriteModelFolder(tmp.Combine("resnet18-nuget"));
        var loaded = new OnnxModelSource().LoadFolder(tmp.Combine("resnet18-nuget"), new ModelSourceContext(tmp.Path, ExecutionDevice.Cpu, _ => { }));
        Assert.True(loaded.Error == null, loaded.Error);
        using var c = (OnnxClassifier)loaded.Classifier!;
        var ex = c.Explainable!;
        string layer = ex.DefaultLayer;
        var info = ex.CandidateLayers.Single(l => l.Name == layer);
        output.WriteLine($"default layer {layer} [{info.Channels},{info.Height},{info.Width}] of {ex.CandidateLayers.Count} candidates");
        // The last 4-D map before the global (7×7) pooling: the last ReLU of layer 4.
        Assert.Equal((512, 7, 7), (info.Channels, info.Height, info.Width));
        Assert.Equal("AveragePool", c.Model.Graph.Node.Single(n => n.Input.Contains(layer)).OpType);

        var images = TestImages.Load(c.Card.Preprocessing, TestImages.Spread(3)[2]);
        var scores = c.PredictRaw(images);
        int cls = Array.IndexOf(scores.Data, scores.Data.Max());
        var seed = FloatTensor.Zeros(1, Classes);
        seed.Data[cls] = 1;
        var r = ex.Backward(images, seed, layer, withInputGradient: true);

        // Exact identity: AveragePool(7×7) → Gemm, so dS/dA[c,h,w] = W[cls,c] / 49.
        double identity = 0, wMax = 0;
        for (int ch = 0; ch < 512; ch++)
        {
            double expect = w[cls * 512 + ch] / 49;
            wMax = Math.Max(wMax, Math.Abs(expect));
            for (int p = 0; p < 49; p++) identity = Math.Max(identity, Math.Abs(r.LayerGradient.Data[ch * 49 + p] - expect));
        }
        output.WriteLine($"GAP→FC identity: max |g − W/49| / max|W/49| = {identity / wMax:E2}");
        Assert.True(identity / wMax < 1e-5);

        // Layer: central differences on the graph cut at the layer. The head (AveragePool → Gemm) is linear, so any ε
        // is exact up to rounding: ε = max|A| keeps float32 rounding of the score small against the difference.
        var cut = RealModelGradientTests.CutAt(c.Model, layer);
        using (var run = new Runner(cut, 1))
        {
            long[] aShape = r.Activations.Shape.Select(d => (long)d).ToArray();
            var a = r.Activations.Data.Select(v => (double)v).ToArray();
            long[] shape = images.Shape.Select(d => (long)d).ToArray();
            var x = images.Data.Select(v => (double)v).ToArray();
            double F(double[] aa) => run.Run([(c.InputName, x, shape), (layer, aa, aShape)], c.OutputName)[0][cls];
            var errs = RealModelGradientTests.Directions(new Random(3), a, r.LayerGradient.Data, r.Activations.Shape, a.Max(Math.Abs), 1, F);
            output.WriteLine($"layer: rel errors {string.Join(", ", errs.Select(e => e.ToString("E2")))}");
            Assert.True(errs.Max() < 1e-4, $"layer max relative error {errs.Max():E2}");
        }

        // Input.
        var (inputErrors, sessions) = RealModelGradientTests.InputDirectionalErrors(c.Model, c.InputName, c.OutputName, layer, images, cls,
            r.InputGradient!, output, "resnet18-nuget");
        Assert.True(inputErrors.Max() < RealModelGradientTests.InputTolerance, $"input max relative error {inputErrors.Max():E2}");
        Assert.True(sessions < RealModelGradientTests.SessionTolerance, $"plugin gradient vs unoptimised run {sessions:E2}");
    }
}
