using VacCnn.Contracts;
using VacCnn.Explainers.Cam;

namespace VacCnn.Explainers.Tests;

/// <summary>The CAM explainers against closed forms and direct loops on <see cref="LinearToyModel"/>.</summary>
public sealed class CamMathTests
{
    private const double Tolerance = 1e-4;

    private static ExplanationRequest Request(int? cls = null, int seed = 1, params (string, double)[] settings) =>
        new(cls, null, seed, settings.ToDictionary(s => s.Item1, s => s.Item2));

    /// <summary>Reference final map: ReLU(Σ w_k A_k) at layer resolution, upsampled, min-max normalised.</summary>
    private static double[] FinishReference(LinearToyModel m, float[] a, double[] weights)
    {
        int lhw = m.Lh * m.Lh;
        var cam = new float[lhw];
        for (int i = 0; i < lhw; i++)
        {
            double s = 0;
            for (int k = 0; k < m.K; k++) s += weights[k] * a[k * lhw + i];
            cam[i] = (float)Math.Max(0, s);
        }
        Assert.True(cam.Max() > 0, "the reference map is all zero: the test would not check anything");
        return Reference.MinMax(Reference.Upsample(cam, m.Lh, m.Lh, m.Size, m.Size));
    }

    private static void AssertClose(double[] expected, SaliencyMap actual)
    {
        Assert.Equal(expected.Length, actual.Values.Length);
        double worst = expected.Zip(actual.Values, (e, v) => Math.Abs(e - v)).Max();
        Assert.True(worst < Tolerance, $"max |difference| {worst}");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void GradCam_equals_the_closed_form(int cls)
    {
        var m = new LinearToyModel();
        var x = m.RandomImage(11);
        var a = m.Layer(x.Data);
        int lhw = m.Lh * m.Lh;
        // dS_c/dA[k,i] = W[c,k]·S[k,i]/lhw, so the mean gradient is W[c,k]·mean_i(S[k,i])/lhw.
        var weights = new double[m.K];
        for (int k = 0; k < m.K; k++)
        {
            double meanS = 0;
            for (int i = 0; i < lhw; i++) meanS += m.S[k, i];
            weights[k] = m.W[cls, k] * (meanS / lhw) / lhw;
        }
        var map = new GradCam().Explain(m, x, Request(cls), CancellationToken.None);
        AssertClose(FinishReference(m, a, weights), map);
        Assert.Equal(cls, map.ClassIndex);
        Assert.Equal(LinearToyModel.LayerName, map.Layer);
    }

    /// <summary>Grad-CAM++ weights written out with plain loops over channels and positions.</summary>
    private static double[] GradCamPlusPlusReference(float[] a, float[] g, int channels, int positions)
    {
        var w = new double[channels];
        for (int k = 0; k < channels; k++)
        {
            double denomSum = 0;
            for (int i = 0; i < positions; i++) denomSum += a[k * positions + i] * Math.Pow(g[k * positions + i], 3);
            for (int i = 0; i < positions; i++)
            {
                double gi = g[k * positions + i];
                double den = 2 * gi * gi + denomSum;
                double alpha = den == 0 ? 0 : gi * gi / den;
                w[k] += alpha * (gi > 0 ? gi : 0);
            }
        }
        return w;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void GradCamPlusPlus_equals_a_direct_loop(int cls)
    {
        var m = new LinearToyModel();
        var x = m.RandomImage(12);
        var a = m.Layer(x.Data);
        var w = GradCamPlusPlusReference(a, m.LayerGradientFor(cls), m.K, m.Lh * m.Lh);
        AssertClose(FinishReference(m, a, w), new GradCamPlusPlus().Explain(m, x, Request(cls), CancellationToken.None));
    }

    [Fact]
    public void GradCamPlusPlus_differs_from_GradCam_on_this_model()
    {
        // Guards the two tests above: if both methods gave the same map here, they could not tell the formulas apart.
        var m = new LinearToyModel();
        var x = m.RandomImage(12);
        var a = new GradCam().Explain(m, x, Request(0), CancellationToken.None).Values;
        var b = new GradCamPlusPlus().Explain(m, x, Request(0), CancellationToken.None).Values;
        Assert.True(a.Zip(b, (p, q) => Math.Abs(p - q)).Max() > 1e-3);
    }

    [Fact]
    public void SmoothGradCamPlusPlus_without_noise_equals_GradCamPlusPlus()
    {
        var m = new LinearToyModel();
        var x = m.RandomImage(13);
        var expected = new GradCamPlusPlus().Explain(m, x, Request(1), CancellationToken.None);
        var smooth = new SmoothGradCamPlusPlus().Explain(m, x, Request(1, 5, ("spread", 0), ("samples", 5)), CancellationToken.None);
        AssertClose(expected.Values.Select(v => (double)v).ToArray(), smooth);
    }

    [Fact]
    public void SmoothGradCamPlusPlus_batches_noisy_copies_and_the_batch_size_does_not_change_the_map()
    {
        var m1 = new LinearToyModel();
        var x = m1.RandomImage(14);
        var byEight = new SmoothGradCamPlusPlus().Explain(m1, x, Request(null, 3, ("samples", 20), ("batch", 8)), CancellationToken.None);
        Assert.Equal(3, m1.BackwardCalls); // 8 + 8 + 4
        Assert.Equal(8, m1.MaxBackwardBatch);
        Assert.Equal(20, m1.BackwardImages);

        var m2 = new LinearToyModel();
        var byOne = new SmoothGradCamPlusPlus().Explain(m2, x, Request(null, 3, ("samples", 20), ("batch", 1)), CancellationToken.None);
        Assert.Equal(20, m2.BackwardCalls);
        Assert.Equal(byEight.Values, byOne.Values);
    }

    [Fact]
    public void SmoothGradCamPlusPlus_is_deterministic_for_a_seed_and_noise_changes_the_map()
    {
        var m = new LinearToyModel();
        var x = m.RandomImage(15);
        var e = new SmoothGradCamPlusPlus();
        var a = e.Explain(m, x, Request(null, 42, ("samples", 6)), CancellationToken.None);
        var b = e.Explain(m, x, Request(null, 42, ("samples", 6)), CancellationToken.None);
        var c = e.Explain(m, x, Request(null, 43, ("samples", 6)), CancellationToken.None);
        var clean = new GradCamPlusPlus().Explain(m, x, Request(null), CancellationToken.None);
        Assert.Equal(a.Values, b.Values);
        Assert.NotEqual(a.Values, c.Values);
        Assert.True(a.Values.Zip(clean.Values, (p, q) => Math.Abs(p - q)).Max() > 1e-3, "noise had no effect");
    }

    /// <summary>Score-CAM with a plain loop: one masked image, one model call per channel.</summary>
    private static double[] ScoreCamReference(LinearToyModel m, FloatTensor x, int cls, IEnumerable<int> channels)
    {
        var a = m.Layer(x.Data);
        int lhw = m.Lh * m.Lh, plane = m.Size * m.Size;
        var weights = new double[m.K];
        foreach (int k in channels)
        {
            var up = Reference.Upsample(a.AsSpan(k * lhw, lhw).ToArray(), m.Lh, m.Lh, m.Size, m.Size);
            if (up.Max() == up.Min()) continue;
            var mask = Reference.MinMax(up);
            var masked = FloatTensor.Zeros(1, 3, m.Size, m.Size);
            for (int c = 0; c < 3; c++)
                for (int p = 0; p < plane; p++) masked.Data[c * plane + p] = (float)(x.Data[c * plane + p] * mask[p]);
            weights[k] = m.PredictProbabilities(masked).Data[cls];
        }
        return FinishReference(m, a, weights);
    }

    [Fact]
    public void ScoreCam_with_all_channels_equals_a_direct_loop_and_is_batched()
    {
        var m = new LinearToyModel(channels: 40);
        var x = m.RandomImage(16);
        var map = new ScoreCam().Explain(m, x, Request(null, 1, ("batch", 32)), CancellationToken.None);
        // One forward pass gives the activations and the class; then ceil(40 / 32) = 2 batched calls.
        Assert.Equal(1, m.ForwardCalls);
        Assert.Equal(2, m.PredictCalls);
        Assert.Equal(32, m.MaxPredictBatch);
        var reference = new LinearToyModel(channels: 40);
        AssertClose(ScoreCamReference(reference, x, map.ClassIndex, Enumerable.Range(0, 40)), map);
    }

    /// <summary>The <paramref name="n"/> channels of largest spatial variance, by a plain loop.</summary>
    private static int[] MostVaried(LinearToyModel m, float[] a, int n)
    {
        int lhw = m.Lh * m.Lh;
        double Variance(int k)
        {
            var v = a.Skip(k * lhw).Take(lhw).Select(f => (double)f).ToArray();
            double mean = v.Average();
            return v.Sum(t => (t - mean) * (t - mean)) / lhw;
        }
        return Enumerable.Range(0, m.K).OrderByDescending(Variance).Take(n).ToArray();
    }

    [Fact]
    public void ScoreCam_top_channels_keeps_the_most_varied_channels()
    {
        var m = new LinearToyModel(channels: 12);
        var x = m.RandomImage(17);
        var top = MostVaried(m, m.Layer(x.Data), 4);
        var map = new ScoreCam().Explain(m, x, Request(2, 1, ("channels", 4)), CancellationToken.None);
        AssertClose(ScoreCamReference(new LinearToyModel(channels: 12), x, 2, top), map);
        var all = new ScoreCam().Explain(m, x, Request(2), CancellationToken.None);
        Assert.NotEqual(all.Values, map.Values);
    }

    /// <summary>
    /// Ablation-CAM's weights in closed form: zeroing A[k] removes its term of the linear head,
    /// y_c − y_c^k = Σ_i W[c,k]·S[k,i]·A[k,i]/lhw, and w_k = that drop / y_c.
    /// </summary>
    private static double[] AblationWeights(LinearToyModel m, float[] a, int cls, IEnumerable<int> channels)
    {
        int lhw = m.Lh * m.Lh;
        double y = m.Bias[cls];
        var drop = new double[m.K];
        for (int k = 0; k < m.K; k++)
            for (int i = 0; i < lhw; i++)
            {
                double term = m.W[cls, k] * m.S[k, i] * a[k * lhw + i] / lhw;
                y += term;
                drop[k] += term;
            }
        var w = new double[m.K];
        foreach (int k in channels) w[k] = drop[k] / y;
        return w;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public void AblationCam_equals_the_closed_form_and_is_batched(int cls)
    {
        var m = new LinearToyModel(channels: 40);
        var x = m.RandomImage(18);
        var map = new AblationCam().Explain(m, x, Request(cls, 1, ("batch", 16)), CancellationToken.None);
        // One forward pass for the activations and the score, then ceil(40 / 16) = 3 calls of 16, 16 and 8 ablations.
        Assert.Equal(1, m.ForwardCalls);
        Assert.Equal(3, m.ScaledCalls);
        Assert.Equal(16, m.MaxScaledRows);
        var a = m.Layer(x.Data);
        AssertClose(FinishReference(m, a, AblationWeights(m, a, cls, Enumerable.Range(0, 40))), map);
        Assert.Equal(cls, map.ClassIndex);
    }

    [Fact]
    public void AblationCam_top_channels_ablates_only_the_most_varied_channels()
    {
        var m = new LinearToyModel(channels: 12);
        var x = m.RandomImage(19);
        var a = m.Layer(x.Data);
        var top = MostVaried(m, a, 5);
        var map = new AblationCam().Explain(m, x, Request(1, 1, ("channels", 5)), CancellationToken.None);
        AssertClose(FinishReference(m, a, AblationWeights(m, a, 1, top)), map);
        Assert.Equal(5, m.MaxScaledRows);
    }

    [Fact]
    public void AblationCam_on_a_model_that_cannot_scale_channels_says_so()
    {
        var m = new NoScalingModel(new LinearToyModel());
        var ex = Assert.Throws<NotSupportedException>(() => new AblationCam().Explain(m, m.Inner.RandomImage(1), Request(null), CancellationToken.None));
        Assert.Contains("cannot scale the channels", ex.Message);
    }

    /// <summary>A model written against the first contracts: it does not implement ScoresWithChannelsScaled.</summary>
    private sealed class NoScalingModel(LinearToyModel inner) : IClassifier, IExplainableClassifier
    {
        public LinearToyModel Inner => inner;
        public ModelCard Card => inner.Card;
        public IExplainableClassifier? Explainable => this;
        public FloatTensor PredictProbabilities(FloatTensor images) => inner.PredictProbabilities(images);
        public IReadOnlyList<LayerInfo> CandidateLayers => inner.CandidateLayers;
        public string DefaultLayer => inner.DefaultLayer;
        public (FloatTensor Scores, FloatTensor Activations) Forward(FloatTensor images, string layer) => inner.Forward(images, layer);
        public GradientResult Backward(FloatTensor images, FloatTensor outputSeed, string layer, bool withInputGradient) =>
            inner.Backward(images, outputSeed, layer, withInputGradient);
        public GradientResult Backward(FloatTensor images, GradientTarget target, string layer, bool withInputGradient) =>
            inner.Backward(images, target, layer, withInputGradient);
        public void Dispose() { }
    }

    /// <summary>The final map from a layer-resolution map written with plain loops: ReLU, upsample, min-max.</summary>
    private static double[] FinishLayerMap(LinearToyModel m, double[] layerMap)
    {
        var cam = layerMap.Select(v => (float)Math.Max(0, v)).ToArray();
        Assert.True(cam.Max() > 0, "the reference map is all zero: the test would not check anything");
        return Reference.MinMax(Reference.Upsample(cam, m.Lh, m.Lh, m.Size, m.Size));
    }

    [Theory]
    [InlineData("hirescam", 0)]
    [InlineData("hirescam", 2)]
    [InlineData("layercam", 1)]
    [InlineData("layercam", 3)]
    [InlineData("xgradcam", 0)]
    [InlineData("xgradcam", 3)]
    public void Per_position_CAM_variants_equal_direct_loops(string id, int cls)
    {
        var m = new LinearToyModel();
        var x = m.RandomImage(31);
        var a = m.Layer(x.Data);
        var g = m.LayerGradientFor(cls);
        int lhw = m.Lh * m.Lh;
        var cam = new double[lhw];
        for (int k = 0; k < m.K; k++)
        {
            double sumA = 0, sumAg = 0;
            for (int i = 0; i < lhw; i++) { sumA += a[k * lhw + i]; sumAg += a[k * lhw + i] * g[k * lhw + i]; }
            for (int i = 0; i < lhw; i++)
            {
                double ai = a[k * lhw + i], gi = g[k * lhw + i];
                cam[i] += id switch
                {
                    "hirescam" => gi * ai,                    // Draelos & Carin: element-wise gradient × activation
                    "layercam" => Math.Max(gi, 0) * ai,       // Jiang et al.: positive gradient as the weight
                    _ => (sumA == 0 ? 0 : sumAg / sumA) * ai, // Fu et al.: activation-weighted mean gradient
                };
            }
        }
        var map = ExplainerContractTests.Create(id).Explain(m, x, Request(cls), CancellationToken.None);
        AssertClose(FinishLayerMap(m, cam), map);
        Assert.Equal(cls, map.ClassIndex);
    }

    [Fact]
    public void HiResCam_differs_from_GradCam_where_gradients_vary_over_positions()
    {
        // On the toy model dS/dA[k,i] ∝ S[k,i] varies with i, so averaging the gradient first (Grad-CAM) must differ.
        var m = new LinearToyModel();
        var x = m.RandomImage(32);
        var a = new GradCam().Explain(m, x, Request(0), CancellationToken.None).Values;
        var b = new HiResCam().Explain(m, x, Request(0), CancellationToken.None).Values;
        Assert.True(a.Zip(b, (p, q) => Math.Abs(p - q)).Max() > 0.05);
    }

    /// <summary>
    /// Eigen-CAM on activations built by hand as A[k, i] = μ_k + c_k·m_i (c_k &gt; 0): centred per channel they are the
    /// rank-one matrix (m_i − m̄)·c_k, whose first principal component projects to m − m̄, oriented with the total
    /// activation (Σ_k c_k &gt; 0). So the map must be ReLU(m − m̄), min-max normalised. Both branches: fewer channels
    /// than positions (K×K eigenproblem) and more (positions × positions).
    /// </summary>
    [Theory]
    [InlineData(5, 49)]
    [InlineData(300, 16)]
    public void EigenCam_of_a_rank_one_layer_is_its_centred_spatial_pattern(int channels, int positions)
    {
        var rng = new Random(channels);
        var m = Enumerable.Range(0, positions).Select(_ => rng.NextDouble() * 4 - 2).ToArray();
        var a = new float[channels * positions];
        for (int k = 0; k < channels; k++)
        {
            double mu = rng.NextDouble() * 3, c = 0.5 + rng.NextDouble();
            for (int i = 0; i < positions; i++) a[k * positions + i] = (float)(mu + c * m[i]);
        }
        double mean = m.Average();
        var expected = Reference.MinMax(m.Select(v => Math.Max(v - mean, 0)).ToArray());
        var actual = Normalised(EigenCam.FirstComponentMap(a, channels, positions));
        double worst = expected.Zip(actual, (e, v) => Math.Abs(e - v)).Max();
        Assert.True(worst < 1e-4, $"max |difference| {worst}");
    }

    private static float[] Normalised(float[] map)
    {
        float lo = map.Min(), hi = map.Max();
        Assert.True(hi > lo, "constant map");
        return map.Select(v => (v - lo) / (hi - lo)).ToArray();
    }
}
