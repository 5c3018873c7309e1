using System.Diagnostics;
using VacCnn.Contracts;
using VacCnn.TestSupport;
using Xunit.Abstractions;

namespace VacCnn.Models.Onnx.Tests;

/// <summary>Constant folding must not change results; its speed-up is measured by the benchmark below.</summary>
[Collection(RealModelsCollection.Name)]
public sealed class FoldingTests(RealModelsFixture fx, ITestOutputHelper output)
{
    public static TheoryData<string> Models() => RealModelTests.Models();

    [Theory, MemberData(nameof(Models))]
    public void Folded_and_unfolded_graphs_give_the_same_logits(string id)
    {
        var folded = fx.Get(id);
        using var tmp = new TempDir();
        var context = new ModelSourceContext(TestPaths.Models, ExecutionDevice.Cpu, _ => { });
        var result = new OnnxModelSource { FoldConstants = false }.LoadFolder(Path.Combine(TestPaths.Models, id), context);
        using var unfolded = (OnnxClassifier)(result.Classifier ?? throw new Xunit.Sdk.XunitException(result.Error));
        Assert.False(unfolded.ConstantsFolded);
        Assert.Contains(unfolded.Model.Graph.Node, n => n.OpType == "DequantizeLinear");
        Assert.Equal(folded.Card.ClassCount, unfolded.Card.ClassCount);
        Assert.Equal(folded.Card.Parameters, unfolded.Card.Parameters);
        Assert.Equal(folded.Card.MultiplyAccumulates, unfolded.Card.MultiplyAccumulates);

        var images = TestImages.Load(folded.Card.Preprocessing, TestImages.Spread(4));
        var a = folded.PredictRaw(images);
        var b = unfolded.PredictRaw(images);
        double maxDiff = a.Data.Zip(b.Data, (x, y) => (double)Math.Abs(x - y)).Max();
        output.WriteLine($"{id}: max |folded − unfolded| = {maxDiff:E2}");
        Assert.True(maxDiff <= 1e-4, $"{id}: folded and unfolded logits differ by {maxDiff}");
    }

    [Fact]
    public void Full_QDQ_graphs_keep_their_weight_DequantizeLinear_and_still_run()
    {
        // mobilenetv2-7-quant (opset 10) quantizes activations: 172 DequantizeLinear, 66 QuantizeLinear. Folding its
        // weights would make ONNX Runtime re-quantize them with a Round node that opset 10 lacks, so they stay.
        var c = fx.Get("mobilenetv2-7-quant");
        Assert.Equal(172, c.Model.Graph.Node.Count(n => n.OpType == "DequantizeLinear"));
        Assert.Equal(66, c.Model.Graph.Node.Count(n => n.OpType == "QuantizeLinear"));
        Assert.Contains(fx.Log, l => l.StartsWith("model mobilenetv2-7-quant: folded 0 DequantizeLinear") && l.Contains("weight DequantizeLinear kept"));
        // Weight-only QDQ models lose every DequantizeLinear.
        Assert.DoesNotContain(fx.Get("hardnet39ds_int8").Model.Graph.Node, n => n.OpType == "DequantizeLinear");
    }

    [Fact]
    [Trait("Category", "Benchmark")]
    public void Benchmark_images_per_second_folded_vs_unfolded()
    {
        const string id = "mobilenet_v2_1.0_224_quant";
        var context = new ModelSourceContext(TestPaths.Models, ExecutionDevice.Cpu, _ => { });
        var folded = fx.Get(id);
        using var unfolded = (OnnxClassifier)new OnnxModelSource { FoldConstants = false }
            .LoadFolder(Path.Combine(TestPaths.Models, id), context).Classifier!;
        var images = TestImages.Load(folded.Card.Preprocessing, TestImages.Spread(8));
        double Measure(IClassifier c)
        {
            c.PredictProbabilities(images); // warm-up (ORT allocates buffers on the first run)
            var sw = Stopwatch.StartNew();
            int n = 0;
            while (sw.Elapsed.TotalSeconds < 3) { c.PredictProbabilities(images); n += images.Shape[0]; }
            return n / sw.Elapsed.TotalSeconds;
        }
        double u = Measure(unfolded), f = Measure(folded);
        output.WriteLine($"{id}, batch 8, {Environment.ProcessorCount} threads: unfolded {u:F1} img/s, folded {f:F1} img/s, speed-up ×{f / u:F2}");
        Assert.True(f > 0 && u > 0);
    }
}
