using Onnx;
using VacCnn.Contracts;
using Xunit.Abstractions;

namespace VacCnn.Models.Onnx.Tests;

/// <summary>
/// <see cref="OnnxClassifier.RandomiseTopLayers"/> (Adebayo et al.'s cascading randomisation, in memory): exactly the
/// top k weighted layers change, each into a permutation of its own weights; nothing else changes, the trained model
/// least of all; the same seed gives the same copy and the cascade is nested.
/// </summary>
[Collection(RealModelsCollection.Name)]
public sealed class RandomisationTests(RealModelsFixture fx, ITestOutputHelper output)
{
    // Folded float weights, and weights kept behind DequantizeLinear (full QDQ graph).
    public static TheoryData<string, int> Models() => new()
    {
        // MobileNet V1: 1 standard + 13 depthwise + 13 pointwise convolutions, and the classifier as a 1×1 convolution.
        { "mobilenet_v1_0.25_128_quant", 28 },
        // MobileNet V2: 52 convolutions and the Gemm classifier.
        { "mobilenetv2-7-quant", 53 },
    };

    [Theory, MemberData(nameof(Models))]
    public void Only_the_top_layers_change_each_into_a_permutation_of_its_own_weights(string id, int weightedLayers)
    {
        var trained = fx.Get(id);
        Assert.Equal(weightedLayers, trained.RandomisableLayers);
        var images = TestImages.Load(trained.Card.Preprocessing, TestImages.Spread(8));
        var before = trained.PredictRaw(images);

        using var randomised = trained.RandomiseTopLayers(3, seed: 7);
        var copy = (OnnxClassifier)randomised.Classifier;
        output.WriteLine($"{id}: " + string.Join("; ", randomised.Layers));
        Assert.Equal(3, randomised.Layers.Count);

        // The weight tensors of the last three Conv/Gemm/MatMul nodes in topological order, the output's first.
        var original = Initializers(trained.Model);
        var changedNames = Initializers(copy.Model).Where(kv => !kv.Value.SequenceEqual(original[kv.Key])).Select(kv => kv.Key).ToList();
        var expected = TopWeightNames(trained.Model.Graph, 3);
        Assert.Equal(expected.Order(StringComparer.Ordinal), changedNames.Order(StringComparer.Ordinal));
        Assert.Equal(expected, randomised.Layers.Select(l => l.Split(' ')[1]));
        foreach (string name in changedNames)
        {
            var t = trained.Model.Graph.Initializer.Single(x => x.Name == name);
            int size = t.DataType switch { 1 => 4, 2 or 3 => 1, _ => throw new InvalidOperationException($"type {t.DataType}") };
            // A permutation: the same multiset of elements in a different order.
            Assert.Equal(Elements(original[name], size).Order(), Elements(Initializers(copy.Model)[name], size).Order());
        }

        // The trained model is untouched, and the copy has lost what the top layers learned.
        var after = trained.PredictRaw(images);
        Assert.Equal(before.Data, after.Data);
        var shuffled = copy.PredictRaw(images);
        int same = Enumerable.Range(0, 8).Count(i => TestImages.ArgMax(before, i) == TestImages.ArgMax(shuffled, i));
        output.WriteLine($"{id}: top-1 kept on {same}/8 images");
        Assert.True(same <= 2, $"{id}: the randomised copy still agrees on {same}/8 images");
        Assert.NotNull(copy.Explainable);
        Assert.Equal(trained.Card, copy.Card);
    }

    [Fact]
    public void The_same_seed_gives_the_same_copy_and_the_cascade_is_nested()
    {
        var trained = fx.Get("mobilenet_v1_0.25_128_quant");
        var images = TestImages.Load(trained.Card.Preprocessing, TestImages.Spread(2));
        using var a = trained.RandomiseTopLayers(2, seed: 11);
        using var b = trained.RandomiseTopLayers(2, seed: 11);
        using var c = trained.RandomiseTopLayers(2, seed: 12);
        using var deeper = trained.RandomiseTopLayers(3, seed: 11);
        Assert.Equal(((OnnxClassifier)a.Classifier).PredictRaw(images).Data, ((OnnxClassifier)b.Classifier).PredictRaw(images).Data);
        Assert.NotEqual(((OnnxClassifier)a.Classifier).PredictRaw(images).Data, ((OnnxClassifier)c.Classifier).PredictRaw(images).Data);
        var top2 = Initializers(((OnnxClassifier)a.Classifier).Model);
        var top3 = Initializers(((OnnxClassifier)deeper.Classifier).Model);
        foreach (string name in TopWeightNames(trained.Model.Graph, 2)) Assert.Equal(top2[name], top3[name]);

        // Disposing a copy leaves the trained model working.
        a.Dispose();
        Assert.Equal(1000, trained.PredictRaw(images).Shape[1]);
    }

    [Fact]
    public void Depths_outside_the_model_are_refused_with_the_allowed_range()
    {
        var trained = fx.Get("mobilenet_v1_0.25_128_quant");
        foreach (int bad in new[] { 0, -1, 29 })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => trained.RandomiseTopLayers(bad, 1));
            Assert.Contains("randomise 1 to 28", e.Message);
        }
    }

    private static Dictionary<string, byte[]> Initializers(ModelProto model) =>
        model.Graph.Initializer.ToDictionary(t => t.Name, t => t.RawData.ToByteArray(), StringComparer.Ordinal);

    private static IEnumerable<string> Elements(byte[] raw, int size) =>
        Enumerable.Range(0, raw.Length / size).Select(i => Convert.ToHexString(raw, i * size, size));

    /// <summary>The weight initializer of the last <paramref name="k"/> Conv/Gemm/MatMul nodes (directly, or the input of
    /// the DequantizeLinear feeding them), last node first.</summary>
    private static List<string> TopWeightNames(GraphProto graph, int k)
    {
        var names = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var result = new List<string>();
        foreach (var node in graph.Node.Reverse().Where(n => n.OpType is "Conv" or "Gemm" or "MatMul"))
        {
            string w = node.Input[1];
            var dq = graph.Node.FirstOrDefault(n => n.OpType == "DequantizeLinear" && n.Output[0] == w);
            string? name = names.Contains(w) ? w : dq != null && names.Contains(dq.Input[0]) ? dq.Input[0] : null;
            if (name != null && !result.Contains(name)) result.Add(name);
            if (result.Count == k) break;
        }
        return result;
    }
}
