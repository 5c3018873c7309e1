using VacCnn.Contracts;

namespace VacCnn.Models.Onnx.Tests.Backward;

/// <summary>
/// The targeted backward graph (class and seed computed inside the run) against the two-step path it replaces: the
/// model's raw scores from a plain forward pass, the class found and the seed built here in double precision, then
/// the seeded backward graph (itself checked by finite differences in <see cref="RealModelGradientTests"/>).
/// </summary>
[Collection(RealModelsCollection.Name)]
public sealed class TargetedSeedTests(RealModelsFixture fx)
{
    public static TheoryData<string, GradientObjective> Cases()
    {
        var data = new TheoryData<string, GradientObjective>();
        foreach (var id in new[] { "mobilenet_v1_0.25_128_quant", "squeezenet_v1.1_int8", "shufflenet_v1_g8_w1_int8" })
            foreach (var objective in Enum.GetValues<GradientObjective>()) data.Add(id, objective);
        return data;
    }

    [Theory, MemberData(nameof(Cases))]
    public void One_targeted_run_equals_a_forward_pass_then_the_seeded_backward_pass(string id, GradientObjective objective)
    {
        var c = fx.Get(id);
        var ex = c.Explainable!;
        var images = TestImages.Load(c.Card.Preprocessing, TestImages.Spread(2));
        int classes = c.Card.ClassCount;
        // Image 0: its own top-1; image 1: a named class that is not its top-1.
        var scores = c.PredictRaw(images);
        int top0 = TestImages.ArgMax(scores, 0), named = (TestImages.ArgMax(scores, 1) + 7) % classes;
        var target = new GradientTarget([GradientTarget.Predicted, named], objective);

        var r = ex.Backward(images, target, ex.DefaultLayer, withInputGradient: true);

        Assert.Equal([top0, named], r.Classes!);
        var seed = FloatTensor.Zeros(2, classes);
        int[] chosen = [top0, named];
        for (int i = 0; i < 2; i++)
        {
            var s = scores.Item(i).ToArray();
            if (objective == GradientObjective.Score) { seed.Data[i * classes + chosen[i]] = 1; continue; }
            double max = s.Max(), sum = s.Sum(v => Math.Exp(v - max));
            double pc = Math.Exp(s[chosen[i]] - max) / sum;
            for (int j = 0; j < classes; j++) seed.Data[i * classes + j] = (float)(pc * ((j == chosen[i] ? 1 : 0) - Math.Exp(s[j] - max) / sum));
        }
        var expected = ex.Backward(images, seed, ex.DefaultLayer, withInputGradient: true);
        AssertClose(expected.Scores, r.Scores, "scores");
        AssertClose(expected.Activations, r.Activations, "activations");
        AssertClose(expected.LayerGradient, r.LayerGradient, "layer gradient");
        AssertClose(expected.InputGradient!, r.InputGradient!, "input gradient");
    }

    [Fact]
    public void A_class_outside_the_model_is_refused_before_any_run()
    {
        var c = fx.Get("mobilenet_v1_0.25_128_quant");
        var images = TestImages.Load(c.Card.Preprocessing, TestImages.Spread(1));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            c.Explainable!.Backward(images, new GradientTarget([c.Card.ClassCount], GradientObjective.Score), c.Explainable.DefaultLayer, false));
        Assert.Contains("has classes 0..", e.Message);
        Assert.Throws<ArgumentException>(() =>
            c.Explainable!.Backward(images, new GradientTarget([1, 2], GradientObjective.Score), c.Explainable.DefaultLayer, false));
    }

    // Same graph up to the seed, so the only differences are float rounding: relative to the tensor's largest value.
    private static void AssertClose(FloatTensor expected, FloatTensor actual, string what)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        double scale = Math.Max(1e-12, expected.Data.Max(Math.Abs));
        double worst = 0;
        for (int i = 0; i < expected.Data.Length; i++) worst = Math.Max(worst, Math.Abs(expected.Data[i] - actual.Data[i]) / scale);
        Assert.True(worst < 1e-4, $"{what}: largest difference {worst:E2} of the largest value {scale:E2}");
        Assert.True(actual.Data.Any(v => v != 0), $"{what} is all zero");
    }
}
