using VacCnn.Contracts;
using VacCnn.Explainers.Attribution;
using Xunit.Abstractions;

namespace VacCnn.Explainers.Tests;

/// <summary>
/// The input attributions against closed forms on <see cref="LinearToyModel"/> (linear in the input, so its input
/// gradient is a constant written out below with plain loops), and Integrated Gradients' completeness axiom on a real
/// ONNX model.
/// </summary>
[Collection(RealModelsCollection.Name)]
public sealed class AttributionTests(RealModelsFixture real, ITestOutputHelper output)
{
    private static ExplanationRequest Request(int? cls, params (string, double)[] settings) =>
        new(cls, null, 1, settings.ToDictionary(s => s.Item1, s => s.Item2));

    /// <summary>dS_cls/dx of the toy model by its definition: Σ_k W[cls,k]·S[k,cell]/lhw · P[k,c]/pool².</summary>
    private static double[] ToyInputGradient(LinearToyModel m, int cls)
    {
        int lhw = m.Lh * m.Lh, plane = m.Size * m.Size;
        var g = new double[3 * plane];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < m.Size; y++)
                for (int x = 0; x < m.Size; x++)
                {
                    int cell = (y / m.Pool) * m.Lh + x / m.Pool;
                    for (int k = 0; k < m.K; k++) g[c * plane + y * m.Size + x] += m.W[cls, k] * m.S[k, cell] / lhw * m.P[k, c] / (m.Pool * m.Pool);
                }
        return g;
    }

    /// <summary>Σ_c |a_c| per pixel, or max(Σ_c a_c, 0), then min-max normalised.</summary>
    private static double[] PixelMapReference(double[] a, int plane, bool positive)
    {
        var map = new double[plane];
        for (int i = 0; i < plane; i++)
        {
            double s = 0;
            for (int c = 0; c < 3; c++) s += positive ? a[c * plane + i] : Math.Abs(a[c * plane + i]);
            map[i] = positive ? Math.Max(s, 0) : s;
        }
        Assert.True(map.Max() > map.Min(), "the reference map is constant: the test would not check anything");
        return Reference.MinMax(map);
    }

    private static void AssertClose(double[] expected, SaliencyMap actual, double tolerance = 1e-5)
    {
        Assert.Equal(expected.Length, actual.Values.Length);
        double worst = expected.Zip(actual.Values, (e, v) => Math.Abs(e - v)).Max();
        Assert.True(worst < tolerance, $"max |difference| {worst}");
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(2, false)]
    [InlineData(1, true)]
    public void Gradient_times_input_is_the_input_times_the_closed_form_gradient(int cls, bool positive)
    {
        var m = new LinearToyModel();
        var x = m.RandomImage(31);
        var g = ToyInputGradient(m, cls);
        var a = x.Data.Select((v, i) => v * g[i]).ToArray();
        var map = new GradientTimesInput().Explain(m, x, Request(cls, ("positive", positive ? 1 : 0)), CancellationToken.None);
        AssertClose(PixelMapReference(a, m.Size * m.Size, positive), map);
        Assert.Null(map.Layer);
        Assert.Equal(cls, map.ClassIndex);
    }

    [Fact]
    public void SmoothGrad_of_a_linear_model_is_its_gradient_whatever_the_noise()
    {
        // The gradient of a linear model is the same at every noisy copy, so the mean is that gradient.
        var m = new LinearToyModel();
        var x = m.RandomImage(32);
        var map = new SmoothGrad().Explain(m, x, Request(3, ("samples", 5), ("noise", 0.5), ("batch", 2)), CancellationToken.None);
        AssertClose(PixelMapReference(ToyInputGradient(m, 3), m.Size * m.Size, false), map);
        Assert.Equal(5, m.BackwardImages);
        Assert.Equal(2, m.MaxBackwardBatch);
    }

    [Fact]
    public void SmoothGrad_noise_is_the_documented_draws_at_the_documented_level()
    {
        var x = new LinearToyModel().RandomImage(33);
        double range = x.Data.Max() - x.Data.Min();
        Assert.Equal(0.15 * range, SmoothGrad.Sigma(x, 0.15), 6);
        var unit = SmoothGrad.Noise(x.Data.Length, 3, 1.0, 7);
        var scaled = SmoothGrad.Noise(x.Data.Length, 3, 0.25, 7);
        Assert.All(Enumerable.Range(0, 3), s => Assert.Equal(unit[s].Select(z => 0.25f * z), scaled[s], (a, b) => Math.Abs(a - b) < 1e-6));
        var all = unit.SelectMany(z => z).ToArray();
        Assert.InRange(all.Average(), -0.05, 0.05);
        Assert.InRange(Math.Sqrt(all.Select(z => (double)z * z).Average()), 0.95, 1.05);
        Assert.NotEqual(unit[0], unit[1]); // each copy gets its own draw
    }

    [Theory]
    [InlineData(IntegratedGradients.BlackBaseline, 1)]
    [InlineData(IntegratedGradients.BlackBaseline, 7)]
    [InlineData(IntegratedGradients.BlurredBaseline, 7)]
    public void Integrated_gradients_of_a_linear_model_are_the_input_difference_times_the_gradient_and_complete(int baseline, int steps)
    {
        var m = new LinearToyModel();
        var x = m.RandomImage(34);
        const int cls = 1;
        var settings = new Dictionary<string, double> { ["steps"] = steps, ["baseline"] = baseline, ["blur"] = 2, ["batch"] = 3, ["positive"] = 0 };
        var r = new IntegratedGradients().Attributions(m, x, cls, settings, CancellationToken.None);
        var x0 = baseline == IntegratedGradients.BlackBaseline ? Enumerable.Repeat(-1.0, x.Data.Length).ToArray() // (0 − 127.5) / 127.5
            : NaiveBlur(x.Data, m.Size, 2);
        var g = ToyInputGradient(m, cls);
        var expected = x.Data.Select((v, i) => (v - x0[i]) * g[i]).ToArray();
        double worst = expected.Zip(r.Attributions, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(worst < 1e-5 * expected.Max(Math.Abs), $"max |difference| {worst}");
        // Completeness: Σ a = S(x) − S(x′), exactly for a linear model.
        double gap = r.Attributions.Sum(a => (double)a) - (r.ScoreAtImage - r.ScoreAtBaseline);
        Assert.True(Math.Abs(gap) < 1e-4 * Math.Abs(r.ScoreAtImage - r.ScoreAtBaseline) + 1e-5, $"completeness gap {gap}");
        Assert.Equal(steps, m.BackwardImages);
        Assert.Equal(Math.Min(3, steps), m.MaxBackwardBatch);
        var map = new IntegratedGradients().Explain(m, x, new ExplanationRequest(cls, null, 1, settings), CancellationToken.None);
        AssertClose(PixelMapReference(expected, m.Size * m.Size, false), map);
    }

    /// <summary>The blurred baseline by a direct 2-D convolution (radius ⌈3σ⌉, normalised taps, mirrored borders).</summary>
    private static double[] NaiveBlur(float[] x, int size, double sigma)
    {
        int r = (int)Math.Ceiling(3 * sigma), plane = size * size;
        int Mirror(int i) { while (i < 0 || i >= size) i = i < 0 ? -i : 2 * (size - 1) - i; return i; }
        var result = new double[x.Length];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < size; y++)
                for (int xx = 0; xx < size; xx++)
                {
                    double acc = 0, norm = 0;
                    for (int dy = -r; dy <= r; dy++)
                        for (int dx = -r; dx <= r; dx++)
                        {
                            double w = Math.Exp(-0.5 * (dy * dy + dx * dx) / (sigma * sigma));
                            acc += w * x[c * plane + Mirror(y + dy) * size + Mirror(xx + dx)];
                            norm += w;
                        }
                    result[c * plane + y * size + xx] = acc / norm;
                }
        return result;
    }

    /// <summary>
    /// The completeness axiom on a real network (ReLU6, not linear): Σ a approaches S_c(x) − S_c(x′) as the steps
    /// grow. Relative gap |Σ a − ΔS| / |ΔS| over 5 real images, black baseline.
    /// </summary>
    [RealGradientsFact]
    public void Integrated_gradients_on_a_real_model_add_up_to_the_score_difference_as_steps_grow()
    {
        var ig = new IntegratedGradients();
        var gaps = new Dictionary<int, List<double>>();
        foreach (int steps in new[] { 4, 32, 256 })
        {
            gaps[steps] = [];
            foreach (var x in real.Images.Take(5))
            {
                var r = ig.Attributions(real.Trained, x, null, new Dictionary<string, double> { ["steps"] = steps, ["batch"] = 64 }, CancellationToken.None);
                double delta = r.ScoreAtImage - r.ScoreAtBaseline;
                gaps[steps].Add(Math.Abs(r.Attributions.Sum(a => (double)a) - delta) / Math.Abs(delta));
            }
        }
        output.WriteLine(string.Join("; ", gaps.Select(g => $"{g.Key} steps: mean relative gap {g.Value.Average():E2} (max {g.Value.Max():E2})")));
        Assert.True(gaps[256].Average() < gaps[4].Average(), "more steps did not bring the sum closer to the score difference");
        Assert.True(gaps[256].Max() < 0.02, $"256 steps: completeness gap {gaps[256].Max():E2} of the score difference");
    }
}
