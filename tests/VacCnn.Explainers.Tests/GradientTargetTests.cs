using VacCnn.Contracts;
using VacCnn.Engine.Explanations;

namespace VacCnn.Explainers.Tests;

/// <summary>
/// <see cref="GradientTargets"/>, the host's meaning of a <see cref="GradientTarget"/>: the class it resolves to, its
/// seed against central differences of softmax, and the two-run targeted pass (forward, then the seeded pass) that a
/// model without a one-run pass uses.
/// </summary>
public sealed class GradientTargetTests
{
    [Fact]
    public void Predicted_resolves_to_the_first_maximum_and_named_classes_are_checked()
    {
        var scores = new FloatTensor([2, 4], [0.5f, 2f, 2f, -1f, 3f, 1f, 0f, 3f]);
        Assert.Equal([1, 0], GradientTargets.Resolve(GradientTarget.ForAll(2, null, GradientObjective.Score), scores));
        Assert.Equal([3, 3], GradientTargets.Resolve(GradientTarget.ForAll(2, 3, GradientObjective.Score), scores));
        Assert.Throws<ArgumentOutOfRangeException>(() => GradientTargets.Resolve(GradientTarget.ForAll(2, 4, GradientObjective.Score), scores));
        Assert.Throws<ArgumentException>(() => GradientTargets.Resolve(GradientTarget.ForAll(3, 1, GradientObjective.Score), scores));
    }

    [Fact]
    public void Softmax_seed_equals_central_differences_of_the_class_probability()
    {
        var rng = new Random(5);
        var s = Enumerable.Range(0, 7).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray();
        var scores = new FloatTensor([1, 7], s);
        const int c = 2;
        var seed = GradientTargets.Seed(new GradientTarget([c], GradientObjective.SoftmaxOfScores), scores, [c]);
        double P(double[] z) => Math.Exp(z[c]) / z.Sum(Math.Exp);
        for (int j = 0; j < s.Length; j++)
        {
            var plus = s.Select(v => (double)v).ToArray();
            var minus = (double[])plus.Clone();
            plus[j] += 1e-5;
            minus[j] -= 1e-5;
            Assert.Equal((P(plus) - P(minus)) / 2e-5, seed.Data[j], 1e-6);
        }
        var oneHot = GradientTargets.Seed(new GradientTarget([c], GradientObjective.Score), scores, [c]);
        Assert.Equal(Enumerable.Range(0, 7).Select(j => j == c ? 1f : 0f), oneHot.Data);
    }

    [Fact]
    public void Two_run_targeted_backward_gives_the_gradient_of_the_predicted_class_probability()
    {
        var m = new LinearToyModel();
        var x = m.RandomImage(9);
        var probs = m.PredictProbabilities(x).Data;
        int predicted = Array.IndexOf(probs, probs.Max());
        IExplainableClassifier ex = m;

        var r = ex.Backward(x, GradientTarget.ForAll(1, null, GradientObjective.SoftmaxOfScores), LinearToyModel.LayerName, withInputGradient: true);

        Assert.Equal([predicted], r.Classes!);
        // Directional derivative of p_predicted along a random direction, by central differences (the toy model is
        // linear up to the softmax, so float32 differences at ε = 1e-2 are accurate to about 1e-4).
        var rng = new Random(11);
        var v = x.Data.Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        double Prob(float eps) => m.PredictProbabilities(new FloatTensor(x.Shape, x.Data.Select((xi, i) => xi + eps * v[i]).ToArray())).Data[predicted];
        double fd = (Prob(1e-2f) - Prob(-1e-2f)) / 2e-2;
        double analytic = r.InputGradient!.Data.Select((g, i) => (double)g * v[i]).Sum();
        Assert.True(Math.Abs(fd - analytic) <= 1e-3 * Math.Max(1e-3, Math.Abs(fd)) + 1e-6, $"finite differences {fd:E4}, gradient {analytic:E4}");
        Assert.True(Math.Abs(analytic) > 1e-6, "the directional derivative should not vanish");
    }
}
