using VacCnn.Contracts;
using VacCnn.Explainers.Shared;

namespace VacCnn.Explainers.Cam;

/// <summary>The per-image arithmetic shared by the CAM explainers, on one item's [K, h, w] activations and gradients.</summary>
internal static class CamMath
{
    /// <summary>(K, h, w) of a [N, K, h, w] layer tensor.</summary>
    public static (int K, int H, int W) LayerShape(FloatTensor t, string layer)
    {
        if (t.Shape.Length != 4) throw new InvalidOperationException($"layer '{layer}' is not a 4-D feature map: [{string.Join(",", t.Shape)}]");
        return (t.Shape[1], t.Shape[2], t.Shape[3]);
    }

    /// <summary>Grad-CAM: w_k = mean over positions of dScore/dA_k.</summary>
    public static double[] GradCamWeights(ReadOnlySpan<float> g, int k, int hw)
    {
        var w = new double[k];
        for (int c = 0; c < k; c++)
        {
            double s = 0;
            for (int i = 0; i < hw; i++) s += g[c * hw + i];
            w[c] = s / hw;
        }
        return w;
    }

    /// <summary>
    /// Grad-CAM++ with the exp(score) closed form of the paper's code: α = g² / (2g² + Σ_hw A·g³) (0 where the
    /// denominator is 0), w_k = Σ_hw α·ReLU(g). The exp(score) factor of ReLU(exp(S)·g) is a positive constant per
    /// image and disappears in the min-max normalisation, so it is left out.
    /// </summary>
    public static double[] GradCamPlusPlusWeights(ReadOnlySpan<float> a, ReadOnlySpan<float> g, int k, int hw)
    {
        var w = new double[k];
        for (int c = 0; c < k; c++)
        {
            double sumAg3 = 0;
            for (int i = 0; i < hw; i++)
            {
                double gi = g[c * hw + i];
                sumAg3 += a[c * hw + i] * gi * gi * gi;
            }
            double wc = 0;
            for (int i = 0; i < hw; i++)
            {
                double gi = g[c * hw + i];
                double g2 = gi * gi;
                double denominator = 2 * g2 + sumAg3;
                double alpha = denominator != 0 ? g2 / denominator : 0;
                wc += alpha * Math.Max(gi, 0);
            }
            w[c] = wc;
        }
        return w;
    }

    /// <summary>HiResCAM: ReLU(Σ_k g_k ⊙ A_k), the element-wise product summed over channels (no spatial averaging).</summary>
    public static float[] HiResCamMap(ReadOnlySpan<float> a, ReadOnlySpan<float> g, int k, int hw) =>
        GatedSumRelu(a, g, k, hw, positiveGradientOnly: false);

    /// <summary>LayerCAM: ReLU(Σ_k ReLU(g_k) ⊙ A_k), each position weighted by its own positive gradient.</summary>
    public static float[] LayerCamMap(ReadOnlySpan<float> a, ReadOnlySpan<float> g, int k, int hw) =>
        GatedSumRelu(a, g, k, hw, positiveGradientOnly: true);

    private static float[] GatedSumRelu(ReadOnlySpan<float> a, ReadOnlySpan<float> g, int k, int hw, bool positiveGradientOnly)
    {
        var sum = new double[hw];
        for (int c = 0; c < k; c++)
            for (int i = 0; i < hw; i++)
            {
                double gi = g[c * hw + i];
                if (positiveGradientOnly && gi < 0) continue;
                sum[i] += gi * a[c * hw + i];
            }
        var map = new float[hw];
        for (int i = 0; i < hw; i++) map[i] = (float)Math.Max(sum[i], 0);
        return map;
    }

    /// <summary>
    /// XGrad-CAM: w_k = Σ_hw (A_k · g_k) / Σ_hw A_k (0 where the channel sums to 0). pytorch-grad-cam adds 1e-7 to
    /// the denominator; that is left out because it is not scale-free (as for Grad-CAM++).
    /// </summary>
    public static double[] XGradCamWeights(ReadOnlySpan<float> a, ReadOnlySpan<float> g, int k, int hw)
    {
        var w = new double[k];
        for (int c = 0; c < k; c++)
        {
            double ag = 0, sa = 0;
            for (int i = 0; i < hw; i++)
            {
                double ai = a[c * hw + i];
                ag += ai * g[c * hw + i];
                sa += ai;
            }
            w[c] = sa != 0 ? ag / sa : 0;
        }
        return w;
    }

    /// <summary>ReLU(Σ_k w_k A_k) at the layer's resolution.</summary>
    public static float[] WeightedSumRelu(ReadOnlySpan<float> a, double[] weights, int hw)
    {
        var sum = new double[hw];
        for (int c = 0; c < weights.Length; c++)
        {
            double wc = weights[c];
            if (wc == 0) continue;
            for (int i = 0; i < hw; i++) sum[i] += wc * a[c * hw + i];
        }
        var map = new float[hw];
        for (int i = 0; i < hw; i++) map[i] = (float)Math.Max(sum[i], 0);
        return map;
    }

    /// <summary>Upsamples a layer-resolution map to the input crop (bilinear, as OpenCV / torch interpolate) and normalises it.</summary>
    public static SaliencyMap Finish(float[] layerMap, int lh, int lw, int height, int width, int cls, float probability, string layer)
    {
        var up = new Bilinear(lh, lw, height, width, alignCorners: false).Resize(layerMap);
        return ExplainerSupport.ToSaliencyMap(up, height, width, cls, probability, layer);
    }

    /// <summary>The channels a perturbation CAM scores (Score-CAM, Ablation-CAM): all, or the <paramref name="keep"/> with the largest spatial variance (ties: lower index first).</summary>
    public static int[] SelectChannels(float[] a, int k, int hw, int keep)
    {
        if (keep == 0 || keep >= k) return Enumerable.Range(0, k).ToArray();
        var variance = new double[k];
        for (int c = 0; c < k; c++)
        {
            double mean = 0, sq = 0;
            for (int i = 0; i < hw; i++) mean += a[c * hw + i];
            mean /= hw;
            for (int i = 0; i < hw; i++) { double d = a[c * hw + i] - mean; sq += d * d; }
            variance[c] = sq / hw;
        }
        return Enumerable.Range(0, k).OrderByDescending(c => variance[c]).ThenBy(c => c).Take(keep).ToArray();
    }
}
