using VacCnn.Contracts;
using VacCnn.Explainers.Perturbation;

namespace VacCnn.Explainers.Tests;

/// <summary>Meaningful perturbation on a toy model that only looks at one quadrant of the image.</summary>
public sealed class PerturbationTests
{
    /// <summary>
    /// One channel A = pooled sum of the colour channels; class 0's score correlates A with a checkerboard that is
    /// non-zero only in the top-left quadrant, and the image is that checkerboard everywhere. Blurring the quadrant
    /// removes the evidence for class 0; blurring elsewhere changes nothing. So the optimal deletion mask covers the
    /// quadrant, and the L1 term keeps the rest intact.
    /// </summary>
    private static (LinearToyModel Model, FloatTensor Image) QuadrantModel()
    {
        var m = new LinearToyModel(size: 32, pool: 2, channels: 1, classes: 4);
        int lh = m.Lh;
        for (int c = 0; c < 3; c++) m.P[0, c] = 1;
        for (int j = 0; j < 4; j++) { m.W[j, 0] = 0; m.Bias[j] = 0; }
        for (int i = 0; i < lh; i++)
            for (int k = 0; k < lh; k++)
                m.S[0, i * lh + k] = i < lh / 2 && k < lh / 2 ? ((i + k) % 2 == 0 ? 1 : -1) : 0;
        // score_0 = W·mean(S·A) = W · (1/4 of the cells) · 3 → 2 with W = 8/3: p_0 ≈ 0.71, far from saturation.
        m.W[0, 0] = 8f / 3;
        var x = FloatTensor.Zeros(1, 3, 32, 32);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int xx = 0; xx < 32; xx++) x.Data[c * 1024 + y * 32 + xx] = ((y / 2 + xx / 2) % 2 == 0) ? 1 : -1;
        return (m, x);
    }

    [Fact]
    public void The_deletion_mask_covers_the_region_the_model_uses()
    {
        var (m, x) = QuadrantModel();
        var p = m.PredictProbabilities(x).Data;
        Assert.InRange(p[0], 0.6f, 0.8f);

        var map = new MeaningfulPerturbation().Explain(m, x,
            new ExplanationRequest(0, null, 1, new Dictionary<string, double> { ["iterations"] = 150 }), CancellationToken.None);
        double inside = 0, outside = 0;
        for (int y = 0; y < 32; y++)
            for (int xx = 0; xx < 32; xx++)
            {
                // Leave a 3-pixel band at the quadrant's border out: the upsampled mask is smooth there.
                bool inQ = y < 13 && xx < 13, outQ = y >= 19 || xx >= 19;
                if (inQ) inside += map.Values[y * 32 + xx] / (13.0 * 13);
                if (outQ) outside += map.Values[y * 32 + xx] / (32.0 * 32 - 19 * 19);
            }
        Assert.True(inside > 0.6 && outside < 0.2, $"mean saliency inside {inside:F3}, outside {outside:F3}");

        // Deleting what the map marks must indeed lower the class probability (an independent check of the mask).
        var zeroedQuadrant = (float[])x.Data.Clone();
        for (int c = 0; c < 3; c++) for (int y = 0; y < 16; y++) for (int xx = 0; xx < 16; xx++) zeroedQuadrant[c * 1024 + y * 32 + xx] = 0;
        Assert.True(m.PredictProbabilities(new FloatTensor([1, 3, 32, 32], zeroedQuadrant)).Data[0] < 0.3f);
    }

    [Fact]
    public void Seeds_change_the_noise_and_noise_zero_ignores_the_seed()
    {
        var (m, x) = QuadrantModel();
        var e = new MeaningfulPerturbation();
        SaliencyMap Run(int seed, double noise) => e.Explain(m, x, new ExplanationRequest(0, null, seed,
            new Dictionary<string, double> { ["iterations"] = 10, ["noise"] = noise }), CancellationToken.None);
        Assert.NotEqual(Run(1, 0.2).Values, Run(2, 0.2).Values);
        Assert.Equal(Run(1, 0).Values, Run(2, 0).Values);
    }

    [Fact]
    public void Each_iteration_costs_one_targeted_backward_pass()
    {
        var (m, x) = QuadrantModel();
        new MeaningfulPerturbation().Explain(m, x, new ExplanationRequest(null, null, 1,
            new Dictionary<string, double> { ["iterations"] = 17 }), CancellationToken.None);
        Assert.Equal(17, m.BackwardCalls);
        // The toy model does not override the targeted pass, so the contract's default runs Forward for the seed each
        // step (an ONNX model does both in one run); the explainer itself predicts once, to choose the class.
        Assert.Equal(17, m.ForwardCalls);
        Assert.Equal(1, m.PredictCalls);
    }
}
