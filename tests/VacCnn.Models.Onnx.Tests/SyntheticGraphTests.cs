using VacCnn.Contracts;
using VacCnn.TestSupport;

namespace VacCnn.Models.Onnx.Tests;

/// <summary>Counts and folding checked on a hand-built graph whose numbers are computed by hand.</summary>
public sealed class SyntheticGraphTests
{
    private static ModelLoadResult Load(string root, string id, bool fold = true, List<string>? log = null) =>
        new OnnxModelSource { FoldConstants = fold }.LoadFolder(Path.Combine(root, id),
            new ModelSourceContext(root, ExecutionDevice.Cpu, l => log?.Add(l)));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void MACs_and_parameters_equal_the_hand_count(bool fold)
    {
        using var tmp = new TempDir();
        SyntheticModels.WriteFolder(tmp.Path, "tiny", SyntheticModels.Tiny(), SyntheticModels.TinyManifest("tiny"));
        var r = Load(tmp.Path, "tiny", fold);
        Assert.Null(r.Error);
        using var c = r.Classifier!;
        Assert.Equal(SyntheticModels.TinyMacs, c.Card.MultiplyAccumulates);
        Assert.Equal(SyntheticModels.TinyParameters, c.Card.Parameters);
        Assert.Equal(6, c.Card.ClassCount);
        Assert.Equal("r1", c.Card.DefaultTargetLayer);
    }

    [Fact]
    public void Per_channel_dequantize_folds_to_the_same_outputs()
    {
        using var tmp = new TempDir();
        SyntheticModels.WriteFolder(tmp.Path, "tiny", SyntheticModels.Tiny(), SyntheticModels.TinyManifest("tiny"));
        using var folded = (OnnxClassifier)Load(tmp.Path, "tiny", true).Classifier!;
        using var plain = (OnnxClassifier)Load(tmp.Path, "tiny", false).Classifier!;
        Assert.DoesNotContain(folded.Model.Graph.Node, n => n.OpType == "DequantizeLinear");
        Assert.DoesNotContain(folded.Model.Graph.Initializer, t => t.Name is "w1_q" or "w1_scale" or "w1_zp");
        Assert.Contains(folded.Model.Graph.Initializer, t => t.Name == "w1; dequantized" && t.DataType == 1);
        var rng = new Random(1);
        var x = new FloatTensor([2, 3, 8, 8], Enumerable.Range(0, 384).Select(_ => (float)rng.NextDouble() * 4 - 2).ToArray());
        var a = folded.PredictRaw(x);
        var b = plain.PredictRaw(x);
        Assert.Equal(a.Shape, b.Shape);
        for (int i = 0; i < a.Data.Length; i++) Assert.Equal(b.Data[i], a.Data[i], 1e-5f);
        // Softmax of logits: rows sum to 1 and keep the arg-max.
        var p = folded.PredictProbabilities(x);
        for (int n = 0; n < 2; n++)
        {
            Assert.Equal(1.0, p.Item(n).ToArray().Sum(v => (double)v), 5);
            Assert.Equal(TestImages.ArgMax(a, n), TestImages.ArgMax(p, n));
        }
    }

    [Fact]
    public void Softmax_is_stable_for_huge_logits_and_agrees_with_hand_values()
    {
        float[] row = [1000f, 999f, -1000f];
        VacCnn.Numerics.Scores.Softmax(row, row); // in place, as the plugin uses it
        Assert.All(row, v => Assert.False(float.IsNaN(v)));
        Assert.Equal(1 / (1 + MathF.Exp(-1)), row[0], 1e-6f);
        Assert.Equal(0f, row[2]);
        // exp(0), exp(ln 2), exp(ln 5) over their sum 8.
        var p = new float[3];
        VacCnn.Numerics.Scores.Softmax([0f, MathF.Log(2), MathF.Log(5)], p);
        Assert.Equal([1 / 8f, 2 / 8f, 5 / 8f], p.Select(v => MathF.Round(v, 6)));
        Assert.Throws<ArgumentException>(() => VacCnn.Numerics.Scores.Softmax([1f, 2f], new float[3]));
    }

    [Theory]
    [InlineData(new[] { 1f, 3f, 2f }, 1)]
    [InlineData(new[] { 3f, 3f, 1f }, 0)] // ties: the first
    [InlineData(new[] { float.NaN, 2f, 5f, 5f }, 2)] // NaN is never the maximum
    [InlineData(new[] { float.NaN, float.NaN }, 0)]
    [InlineData(new[] { float.NegativeInfinity, float.NegativeInfinity, -1f }, 2)]
    [InlineData(new[] { float.NegativeInfinity, float.NegativeInfinity }, 0)]
    public void ArgMax_is_the_first_maximum_and_ignores_NaN(float[] values, int expected) =>
        Assert.Equal(expected, VacCnn.Numerics.Scores.ArgMax(values));

    [Fact]
    public void Fixed_batch_of_one_is_split()
    {
        using var tmp = new TempDir();
        SyntheticModels.WriteFolder(tmp.Path, "b1", SyntheticModels.Tiny([1, 3, 8, 8]), SyntheticModels.TinyManifest("b1"));
        SyntheticModels.WriteFolder(tmp.Path, "bn", SyntheticModels.Tiny(), SyntheticModels.TinyManifest("bn"));
        using var fixedOne = Load(tmp.Path, "b1").Classifier!;
        using var symbolic = Load(tmp.Path, "bn").Classifier!;
        var x = new FloatTensor([3, 3, 8, 8], Enumerable.Range(0, 576).Select(i => MathF.Sin(i)).ToArray());
        Assert.Equal(symbolic.PredictProbabilities(x).Data, fixedOne.PredictProbabilities(x).Data);
    }

    [Fact]
    public void Without_a_manifest_every_assumption_is_a_warning_and_a_log_line()
    {
        using var tmp = new TempDir();
        SyntheticModels.WriteFolder(tmp.Path, "bare", SyntheticModels.Tiny(), null);
        var log = new List<string>();
        var r = Load(tmp.Path, "bare", log: log);
        Assert.Null(r.Error);
        using var c = r.Classifier!;
        var card = c.Card;
        Assert.Equal("bare", card.Id);
        Assert.Equal(8, card.Preprocessing.CropWidth);
        Assert.Equal(9, card.Preprocessing.ResizeShorterSide); // round(8 / 0.875) = 9
        Assert.Equal(ChannelOrder.Rgb, card.Preprocessing.Channels);
        Assert.Equal(PreprocessingSpec.TorchVision().Mean, card.Preprocessing.Mean);
        Assert.Equal(OutputKind.Logits, card.OutputKind);
        Assert.Equal(6, card.ClassCount);
        Assert.Contains(card.Warnings, w => w.StartsWith("no model.json, assumed"));
        Assert.Contains(card.Warnings, w => w.Contains("RGB"));
        Assert.Contains(card.Warnings, w => w.Contains("logits"));
        Assert.Contains(card.Warnings, w => w.Contains("mean/std"));
        Assert.Contains(log, l => l.StartsWith("model bare: no model.json, assumed"));
        foreach (string w in card.Warnings) Assert.Contains($"model bare: {w}", log);
    }
}
