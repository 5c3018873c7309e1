using VacCnn.Contracts;
using VacCnn.TestSupport;
using Xunit.Abstractions;

namespace VacCnn.Models.Onnx.Tests;

/// <summary>The 11 real models in shared/data/models, checked against the manifests and PROVENANCE.md.</summary>
[Collection(RealModelsCollection.Name)]
public sealed class RealModelTests(RealModelsFixture fx, ITestOutputHelper output)
{
    public static readonly string[] Ids =
    [
        "hardnet39ds_int8", "mobilenet_v1_0.25_128_quant", "mobilenet_v1_0.5_160_quant", "mobilenet_v1_0.75_192_quant",
        "mobilenet_v2_1.0_224_quant", "mobilenet_v3_small_1.0_224_uint8", "mobilenet_v3_small_100_224_hub_int8",
        "mobilenetv2-7-quant", "regnetx_200mf_int8", "shufflenet_v1_g8_w1_int8", "squeezenet_v1.1_int8",
    ];

    public static TheoryData<string> Models() => new(Ids);

    [Fact]
    public void All_eleven_load_without_errors()
    {
        foreach (var r in fx.Results) output.WriteLine($"{r.Id}: {r.Error ?? "ok"}");
        Assert.Equal(Ids, fx.Results.Select(r => r.Id).Order(StringComparer.Ordinal));
        Assert.All(fx.Results, r => Assert.Null(r.Error));
        Assert.All(fx.Results, r => Assert.NotNull(r.Classifier));
        Assert.Contains(fx.Log, l => l == "model mobilenetv2-7-quant runs on CPUExecutionProvider");
    }

    [Theory, MemberData(nameof(Models))]
    public void Card_matches_the_manifest(string id)
    {
        var c = fx.Get(id);
        var card = c.Card;
        string json = File.ReadAllText(Path.Combine(TestPaths.Models, id, "model.json"));
        var m = ModelManifest.Parse(json);
        output.WriteLine($"{id}: {card.Parameters:N0} parameters, {card.MultiplyAccumulates:N0} MACs, {c.ExecutionProvider}");
        Assert.Equal(id, card.Id);
        Assert.Equal(1000, card.ClassCount);
        Assert.Equal("imagenet-1k", card.LabelSet);
        Assert.Equal(m.Input!.Size, card.Preprocessing.CropHeight);
        Assert.Equal(m.Input.Size, card.Preprocessing.CropWidth);
        Assert.Equal(m.Input.Resize, card.Preprocessing.ResizeShorterSide);
        Assert.Equal(m.Input.Mean!.Select(v => (float)v), card.Preprocessing.Mean);
        Assert.Equal(m.Input.Std!.Select(v => (float)v), card.Preprocessing.Std);
        Assert.Equal(OutputKind.Logits, card.OutputKind);
        Assert.Equal(m.Name, card.DisplayName);
        Assert.Equal(m.TargetLayer, card.DefaultTargetLayer);
        Assert.Empty(card.Warnings);
        Assert.NotNull(c.Explainable);
        Assert.True(c.ConstantsFolded);
        // Small mobile networks: 0.4M..6M parameters and 10M..700M MACs (MobileNet V1 0.25·128: 0.47M, 14M).
        Assert.InRange(card.Parameters, 400_000, 6_000_000);
        Assert.InRange(card.MultiplyAccumulates, 10_000_000, 700_000_000);
    }

    [Theory, MemberData(nameof(Models))]
    public void Batch_of_three_equals_three_single_runs_and_rows_sum_to_one(string id)
    {
        var c = fx.Get(id);
        var images = TestImages.Load(c.Card.Preprocessing, TestImages.Spread(3));
        var batch = c.PredictProbabilities(images);
        Assert.Equal([3, 1000], batch.Shape);
        for (int i = 0; i < 3; i++)
        {
            var single = c.PredictProbabilities(new FloatTensor([1, .. images.Shape[1..]], images.Item(i).ToArray()));
            double maxDiff = 0;
            for (int k = 0; k < 1000; k++) maxDiff = Math.Max(maxDiff, Math.Abs(single.Data[k] - batch.Item(i)[k]));
            Assert.True(maxDiff <= 1e-5, $"item {i}: batch vs single max diff {maxDiff}");
            double sum = 0;
            foreach (float p in batch.Item(i)) { Assert.InRange(p, 0f, 1f); sum += p; }
            Assert.Equal(1.0, sum, 4);
        }
    }

    [Fact]
    public void MobileNetV2_gets_at_least_16_of_20_samples_right()
    {
        // PROVENANCE.md: 88.6 % top-1 on all 1000 samples; 16/20 leaves room for sampling noise.
        var c = fx.Get("mobilenet_v2_1.0_224_quant");
        var files = TestImages.Spread(20);
        var probs = c.PredictProbabilities(TestImages.Load(c.Card.Preprocessing, files));
        int correct = files.Select((f, i) => TestImages.ArgMax(probs, i) == TestImages.ClassIndex(f) ? 1 : 0).Sum();
        output.WriteLine($"top-1 {correct}/20");
        Assert.True(correct >= 16, $"only {correct}/20 correct");
    }

    [Fact]
    public void Parameters_and_MACs_of_MobileNetV2_match_the_published_values()
    {
        // Published for MobileNet V2 1.0 224: 3.47M parameters, 300M MACs (Sandler et al. 2018, Table 4).
        // The TF-slim model has 1001 outputs (+1,281 weights), well within 5 %.
        var card = fx.Get("mobilenet_v2_1.0_224_quant").Card;
        output.WriteLine($"{card.Parameters:N0} parameters, {card.MultiplyAccumulates:N0} MACs");
        Assert.InRange(card.Parameters, 3.47e6 * 0.95, 3.47e6 * 1.05);
        Assert.InRange(card.MultiplyAccumulates, 300e6 * 0.95, 300e6 * 1.05);
    }

    [Fact]
    public void The_loaded_graph_stays_available_and_is_folded()
    {
        var c = fx.Get("mobilenet_v2_1.0_224_quant");
        Assert.NotNull(c.Model.Graph);
        Assert.DoesNotContain(c.Model.Graph.Node, n => n.OpType == "DequantizeLinear");
        Assert.Contains(c.Model.Graph.Node, n => n.Output.Contains("last_features"));
    }

    [Fact]
    public void Parallel_callers_get_the_same_answers()
    {
        var c = fx.Get("mobilenet_v1_0.25_128_quant");
        var images = TestImages.Load(c.Card.Preprocessing, TestImages.Spread(4));
        var expected = c.PredictProbabilities(images).Data;
        Parallel.For(0, 16, _ => Assert.Equal(expected, c.PredictProbabilities(images).Data));
    }
}
