using Onnx;
using VacCnn.Contracts;
using VacCnn.Models.Onnx.Backward;
using Xunit.Abstractions;

namespace VacCnn.Models.Onnx.Tests.Backward;

/// <summary>
/// Gradients of the 11 real models checked by finite differences: at the input (the network with its piecewise
/// decisions frozen at the input, see <see cref="FrozenPattern"/>) and at the
/// default layer (a cut of the graph: the layer's producer removed and the layer made an input, so perturbing it
/// is exact). Relative error |FD − ⟨g,v⟩| / |⟨g,v⟩|. Layer (the heads after the layers are linear or nearly so):
/// median over 5 local random directions, ε = 1e-2·max|A|, median &lt; 2e-2. Input: max over 5 directions of the
/// frozen network, ε = 1e-2, &lt; 1e-3 (plain float32 differences through 15–60 ReLU/Clip layers were inconclusive:
/// medians 2–9 %, kink crossings at large ε, rounding at small ε). mobilenetv2-7-quant quantizes its activations, so its
/// forward is piecewise constant; our gradient is the straight-through one, which for this graph (no activation
/// functions: ReLU6 lives in the quantization ranges) equals the gradient of the graph with its activation
/// QuantizeLinear→DequantizeLinear pairs removed — FD runs on that graph.
/// </summary>
[Collection(RealModelsCollection.Name)]
public sealed class RealModelGradientTests(RealModelsFixture fx, ITestOutputHelper output)
{
    public static TheoryData<string> Models() => new(RealModelTests.Ids);

    [Theory, MemberData(nameof(Models))]
    public void Layer_gradient_matches_finite_differences_on_the_cut_graph(string id)
    {
        var c = fx.Get(id);
        var ex = c.Explainable!;
        string layer = ex.DefaultLayer;
        Assert.Equal(c.Card.DefaultTargetLayer, layer);
        Assert.Contains(ex.CandidateLayers, l => l.Name == layer);
        var info = ex.CandidateLayers.Single(l => l.Name == layer);

        var images = TestImages.Load(c.Card.Preprocessing, TestImages.Spread(3)[1]);
        var scores = c.PredictRaw(images);
        int cls = Array.IndexOf(scores.Data, scores.Data.Max());
        var seed = FloatTensor.Zeros(1, c.Card.ClassCount);
        seed.Data[cls] = 1;
        var r = ex.Backward(images, seed, layer, withInputGradient: true);
        Assert.Equal([1, info.Channels, info.Height, info.Width], r.Activations.Shape);
        Assert.Equal(r.Activations.Shape, r.LayerGradient.Shape);
        Assert.Equal(images.Shape, r.InputGradient!.Shape);
        bool stripped = id == "mobilenetv2-7-quant";
        if (!stripped)
            for (int i = 0; i < scores.Data.Length; i++) Assert.Equal(scores.Data[i], r.Scores.Data[i], 1e-3f * (1 + Math.Abs(scores.Data[i])));

        var model = c.Model.Clone();
        if (stripped) StripActivationQdq(model);
        var rng = new Random(3);
        // Layer, on the cut graph.
        var cut = CutAt(model, layer);
        using (var run = new Runner(cut, 1))
        {
            long[] shape = images.Shape.Select(d => (long)d).ToArray();
            long[] aShape = r.Activations.Shape.Select(d => (long)d).ToArray();
            var x = images.Data.Select(v => (double)v).ToArray();
            var a = r.Activations.Data.Select(v => (double)v).ToArray();
            double scale = a.Max(Math.Abs);
            double F(double[] aa) => run.Run([(c.InputName, x, shape), (layer, aa, aShape)], c.OutputName)[0][cls];
            var errs = Directions(rng, a, r.LayerGradient.Data, r.Activations.Shape, scale, 1e-2, F);
            output.WriteLine($"{id} layer {layer} {string.Join("x", aShape)}: rel errors {string.Join(", ", errs.Select(e => e.ToString("E2")))}");
            Assert.True(Median(errs) < 2e-2, $"layer median relative error {Median(errs):E2}");

            // The same cut with the head's piecewise decisions frozen: whole-layer directions, max < LayerFrozenTolerance.
            var frozen = FrozenPattern.Freeze(cut, [(c.InputName, images.Data, shape), (layer, r.Activations.Data, aShape)]);
            using var frozenRun = new Runner(frozen, 1);
            double Ff(double[] aa) => frozenRun.Run([(c.InputName, x, shape), (layer, aa, aShape)], c.OutputName)[0][cls];
            Assert.True(Math.Abs(Ff(a) - F(a)) <= 1e-4 * (1 + Math.Abs(F(a))), "frozen head differs from the head at A");
            var frozenErrs = FrozenErrors(a, r.LayerGradient.Data.Select(v => (double)v).ToArray(), scale, Ff, new Random(4));
            output.WriteLine($"{id} layer (frozen head): rel errors {string.Join(", ", frozenErrs.Select(e => e.ToString("E2")))}");
            Assert.True(frozenErrs.Max() < LayerFrozenTolerance, $"layer (frozen head) max relative error {frozenErrs.Max():E2}");
        }
    }

    /// <summary>Tolerance of the frozen-head layer check (best of the ε ladder per direction, max over 5 directions).</summary>
    internal const double LayerFrozenTolerance = 1e-4;

    /// <summary>
    /// Relative errors |FD − ⟨g,v⟩| / |⟨g,v⟩| for 5 directions v ~ N(0,1)·<paramref name="scale"/> over the whole
    /// tensor, each the best of central differences at ε = 1 … 1e-4, Richardson at 1e-2 and 1e-3 and second-order
    /// Richardson at 1e-2 (linear frozen networks are exact at ε = 1; smooth ones need the extrapolation).
    /// </summary>
    internal static List<double> FrozenErrors(double[] x, double[] g, double scale, Func<double[], double> f, Random rng, Action<string>? log = null)
    {
        double[] ladder = [1, 1e-1, 1e-2, 1e-3, 1e-4], richardson = [1e-2, 1e-3];
        var errs = new List<double>();
        for (int k = 0; k < 5; k++)
        {
            var v = x.Select(_ => scale * Normal(rng)).ToArray();
            double dot = 0;
            for (int i = 0; i < x.Length; i++) dot += g[i] * v[i];
            double D(double eps) => (f(x.Zip(v, (a, b) => a + eps * b).ToArray()) - f(x.Zip(v, (a, b) => a - eps * b).ToArray())) / (2 * eps);
            var estimates = ladder.Select(eps => (Name: $"ε={eps}", Value: D(eps))).ToList();
            // Richardson: (4·D(ε/2) − D(ε)) / 3 cancels the ε² term of smooth (gated) networks.
            foreach (double eps in richardson) estimates.Add(($"R(ε={eps})", (4 * D(eps / 2) - D(eps)) / 3));
            // Second-order Richardson, (16·R(ε/2) − R(ε)) / 15, also cancels the ε⁴ term: smooth networks reach the
            // gradient at ε = 1e-2 … 2.5e-3, where float32 rounding (∝ 1/ε) is still small.
            double R(double eps) => (4 * D(eps / 2) - D(eps)) / 3;
            estimates.Add(("R2(ε=0.01)", (16 * R(5e-3) - R(1e-2)) / 15));
            var e = estimates.Select(q => (q.Name, Error: double.IsFinite(q.Value) ? Math.Abs(q.Value - dot) / Math.Abs(dot) : double.PositiveInfinity)).ToArray();
            log?.Invoke($"  dir {k}: " + string.Join(", ", e.Select(q => $"{q.Name}: {q.Error:E2}")));
            errs.Add(e.Min(q => q.Error));
        }
        return errs;
    }

    /// <summary>
    /// Input gradient vs central differences of the network with its Relu/Clip/HardSigmoid/MaxPool decisions frozen
    /// at x (<see cref="FrozenPattern"/>: the same function on the region around x, so the same gradient, but without
    /// kinks). Directions v ~ N(0, 1) over the whole image; relative error |FD − ⟨g,v⟩| / |⟨g,v⟩|, the best of an ε
    /// ladder (1 … 1e-4, plus Richardson at 1e-2 and 1e-3) per direction, max over 5 directions &lt;
    /// <see cref="InputTolerance"/>. ReLU/Clip networks become exactly linear when frozen, so ε = 1 is exact up to
    /// float32 rounding (measured 1e-8 – 4e-5); hard-swish/SE networks (MobileNet V3) become smooth polynomials, where
    /// the ε² term is cancelled by Richardson extrapolation. On the unfrozen network the check is inconclusive in
    /// float32 (kink crossings at large ε, rounding at small ε: medians 2–9 %).
    /// Units exactly at a kink (measured: 3164 Clip inputs exactly at a bound in mobilenet_v2_1.0_224_quant) have two
    /// valid subgradients, and which one a run takes depends on ONNX Runtime's rounding: the plugin's session
    /// (ORT_ENABLE_ALL: fused kernels) and the unoptimised probe that freezes the pattern may differ there. So g is
    /// our backward graph run unoptimised, like the probe, and the plugin's gradient must agree with it to
    /// <see cref="SessionTolerance"/> (relative L2).
    /// </summary>
    [Theory, MemberData(nameof(Models))]
    public void Input_gradient_matches_finite_differences_of_the_frozen_network(string id)
    {
        var c = fx.Get(id);
        var ex = c.Explainable!;
        var images = TestImages.Load(c.Card.Preprocessing, TestImages.Spread(3)[1]);
        var scores = c.PredictRaw(images);
        int cls = Array.IndexOf(scores.Data, scores.Data.Max());
        var seed = FloatTensor.Zeros(1, c.Card.ClassCount);
        seed.Data[cls] = 1;
        var r = ex.Backward(images, seed, ex.DefaultLayer, withInputGradient: true);
        var model = c.Model.Clone();
        if (id == "mobilenetv2-7-quant") StripActivationQdq(model);
        var (errs, sessions) = InputDirectionalErrors(model, c.InputName, c.OutputName, ex.DefaultLayer, images, cls, r.InputGradient!, output, id);
        Assert.True(errs.Max() < InputTolerance, $"input max relative error {errs.Max():E2}");
        // mobilenetv2-7-quant: the plugin's gradient is the straight-through one of the quantized graph (see remarks).
        Assert.True(sessions < SessionTolerance, $"plugin gradient vs unoptimised run: relative L2 {sessions:E2}");
    }

    /// <summary>Tolerance of the frozen-network input check (float32 forward, ε = 1e-2).</summary>
    internal const double InputTolerance = 1e-3;

    /// <summary>Plugin session (optimised) vs unoptimised run of the same backward graph: subgradient choices at exact kinks.</summary>
    internal const double SessionTolerance = 3e-2;

    /// <summary>
    /// Relative errors of 5 central differences (ε = 1e-2, v ~ N(0,1)) of the frozen network against ⟨g, v⟩, g being
    /// the backward graph of <paramref name="model"/> run unoptimised; and the relative L2 distance of
    /// <paramref name="pluginGradient"/> to that g.
    /// </summary>
    internal static (List<double> Errors, double Sessions) InputDirectionalErrors(ModelProto model, string inputName, string outputName,
        string layer, FloatTensor images, int cls, FloatTensor pluginGradient, ITestOutputHelper output, string label)
    {
        long[] shape = images.Shape.Select(d => (long)d).ToArray();
        var x = images.Data.Select(v => (double)v).ToArray();
        using var plain = new Runner(model, 1);
        var scores = plain.Run([(inputName, x, shape)], outputName)[0];
        var oneHot = new double[scores.Length];
        oneHot[cls] = 1;
        var graph = BackwardGraphBuilder.Build(model, inputName, outputName, layer, true, shape);
        double[] g;
        using (var bwd = new Runner(graph.Model, 1, Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_DISABLE_ALL))
            g = bwd.Run([(inputName, x, shape), (graph.SeedName, oneHot, [1, scores.Length])], graph.InputGradientName!)[0];
        double diff = 0, norm = 0;
        for (int i = 0; i < g.Length; i++) { diff += Math.Pow(pluginGradient.Data[i] - g[i], 2); norm += g[i] * g[i]; }
        double sessions = Math.Sqrt(diff / norm);

        var frozen = FrozenPattern.Freeze(model, inputName, images.Data, shape);
        using var run = new Runner(frozen, 1);
        // The frozen network is the network at x.
        double f0 = run.Run([(inputName, x, shape)], outputName)[0][cls];
        Assert.True(Math.Abs(scores[cls] - f0) <= 1e-4 * (1 + Math.Abs(scores[cls])), $"frozen network scores {f0} at x, network {scores[cls]}");
        double F(double[] xx) => run.Run([(inputName, xx, shape)], outputName)[0][cls];
        var errs = FrozenErrors(x, g, 1, F, new Random(5), line => output.WriteLine($"  {label}{line}"));
        output.WriteLine($"{label} input (frozen pattern): rel errors {string.Join(", ", errs.Select(e => e.ToString("E2")))}; " +
                         $"plugin session vs unoptimised run: {sessions:E2}");
        return (errs, sessions);
    }

    private static double Normal(Random r) => Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());

    /// <summary>The fully-connected head's weights as the graph's single Gemm holds them.</summary>
    private static (double[] W, bool TransB, float Alpha) HeadWeights(OnnxClassifier c)
    {
        var gemm = c.Model.Graph.Node.Single(n => n.OpType == "Gemm");
        double[] w = OnnxTensors.ReadAsDoubles(c.Model.Graph.Initializer.Single(t => t.Name == gemm.Input[1]));
        bool transB = gemm.Attribute.FirstOrDefault(a => a.Name == "transB")?.I == 1;
        float alpha = gemm.Attribute.FirstOrDefault(a => a.Name == "alpha") is { } al ? al.F : 1f;
        return (w, transB, alpha);
    }

    /// <summary>
    /// Exact identity for a GAP → fully-connected head: score_k = Σ_c W[k,c]·mean_hw(A[c]) + b, so
    /// dscore_k/dA[c,h,w] = W[k,c]/(H·W) for every h, w.
    /// </summary>
    [Theory]
    [InlineData("regnetx_200mf_int8")]
    [InlineData("hardnet39ds_int8")]
    [InlineData("shufflenet_v1_g8_w1_int8")]
    public void Gap_fc_head_gradient_equals_fc_weight_over_hw(string id)
    {
        var c = fx.Get(id);
        var ex = c.Explainable!;
        var (w, transB, alpha) = HeadWeights(c);
        int classes = c.Card.ClassCount;
        var images = TestImages.Load(c.Card.Preprocessing, TestImages.Spread(3)[2]);
        const int k = 417;
        var seed = FloatTensor.Zeros(1, classes);
        seed.Data[k] = 1;
        var r = ex.Backward(images, seed, ex.DefaultLayer, false);
        int ch = r.LayerGradient.Shape[1], hw = r.LayerGradient.Shape[2] * r.LayerGradient.Shape[3];
        double wMax = 0, err = 0;
        for (int ci = 0; ci < ch; ci++)
        {
            double expect = alpha * (transB ? w[k * ch + ci] : w[ci * classes + k]) / hw;
            wMax = Math.Max(wMax, Math.Abs(expect));
            for (int p = 0; p < hw; p++) err = Math.Max(err, Math.Abs(r.LayerGradient.Data[ci * hw + p] - expect));
        }
        output.WriteLine($"{id}: max |grad − W/(HW)| = {err:E2}, relative {err / wMax:E2}");
        Assert.True(err / wMax < 1e-5, $"relative error {err / wMax:E2}");
    }

    /// <summary>
    /// Channel scaling (Ablation-CAM's intervention) against the same GAP → fully-connected identity: with A[c]
    /// multiplied by s_c, score_k changes by Σ_c (s_c − 1)·alpha·W[k,c]·mean_hw(A[c]), computed here from the graph's
    /// Gemm weights and the activations of a plain forward pass. Rows: all ones (the plain scores), one channel
    /// ablated (three different ones), and two channels scaled by 2 and 0.5.
    /// </summary>
    [Theory]
    [InlineData("regnetx_200mf_int8")]
    [InlineData("hardnet39ds_int8")]
    [InlineData("shufflenet_v1_g8_w1_int8")]
    public void Scaling_channels_changes_the_scores_as_the_gap_fc_head_says(string id)
    {
        var c = fx.Get(id);
        var ex = c.Explainable!;
        var (w, transB, alpha) = HeadWeights(c);
        int classes = c.Card.ClassCount;
        var image = TestImages.Load(c.Card.Preprocessing, TestImages.Spread(3)[1]);
        var (scores, acts) = ex.Forward(image, ex.DefaultLayer);
        int ch = acts.Shape[1], hw = acts.Shape[2] * acts.Shape[3];
        var mean = new double[ch];
        for (int ci = 0; ci < ch; ci++) { for (int p = 0; p < hw; p++) mean[ci] += acts.Data[ci * hw + p]; mean[ci] /= hw; }

        var rows = new List<float[]> { Enumerable.Repeat(1f, ch).ToArray() };
        foreach (int k in new[] { 0, ch / 2, ch - 1 })
        {
            var r = Enumerable.Repeat(1f, ch).ToArray();
            r[k] = 0;
            rows.Add(r);
        }
        var mixed = Enumerable.Repeat(1f, ch).ToArray();
        mixed[1] = 2; mixed[ch / 3] = 0.5f;
        rows.Add(mixed);
        var scaled = ex.ScoresWithChannelsScaled(image, ex.DefaultLayer, new FloatTensor([rows.Count, ch], rows.SelectMany(r => r).ToArray()));
        Assert.Equal([rows.Count, classes], scaled.Shape);

        double scale = scores.Data.Max(Math.Abs), worst = 0, largestChange = 0;
        for (int r = 0; r < rows.Count; r++)
            for (int k = 0; k < classes; k++)
            {
                double change = 0;
                for (int ci = 0; ci < ch; ci++)
                    if (rows[r][ci] != 1) change += (rows[r][ci] - 1) * alpha * (transB ? w[k * ch + ci] : w[ci * classes + k]) * mean[ci];
                largestChange = Math.Max(largestChange, Math.Abs(change));
                worst = Math.Max(worst, Math.Abs(scaled.Item(r)[k] - (scores.Item(0)[k] + change)));
            }
        output.WriteLine($"{id}: layer {ex.DefaultLayer} [{ch}×{hw}], max |scaled − (plain + W·Δmean)| = {worst:E2} of max |score| {scale:E2}; largest predicted change {largestChange:E2}");
        Assert.True(largestChange > 1e-3 * scale, "the scaled channels hardly change any score: the test would not check anything");
        Assert.True(worst < 1e-5 * scale, $"error {worst:E2} against scores of size {scale:E2}");
    }

    [Fact]
    public void Channel_scaling_rejects_a_wrong_shape_and_several_images()
    {
        var c = fx.Get("regnetx_200mf_int8");
        var ex = c.Explainable!;
        var image = TestImages.Load(c.Card.Preprocessing, TestImages.Spread(3)[0]);
        int ch = ex.CandidateLayers.Single(l => l.Name == ex.DefaultLayer).Channels;
        var wrong = Assert.Throws<ArgumentException>(() => ex.ScoresWithChannelsScaled(image, ex.DefaultLayer, FloatTensor.Zeros(2, ch + 1)));
        Assert.Contains($"[N,{ch}]", wrong.Message);
        var two = new FloatTensor([2, .. image.Shape[1..]], [.. image.Data, .. image.Data]);
        Assert.Throws<ArgumentException>(() => ex.ScoresWithChannelsScaled(two, ex.DefaultLayer, FloatTensor.Zeros(1, ch)));
        Assert.Throws<ArgumentException>(() => ex.ScoresWithChannelsScaled(image, "no_such_layer", FloatTensor.Zeros(1, ch)));
    }

    [Fact]
    public void Batched_backward_equals_single_runs()
    {
        var c = fx.Get("mobilenet_v3_small_100_224_hub_int8");
        var ex = c.Explainable!;
        var images = TestImages.Load(c.Card.Preprocessing, TestImages.Spread(2));
        var seed = FloatTensor.Zeros(2, 1000);
        seed.Data[3] = 1; seed.Data[1000 + 700] = 0.5f; seed.Data[1000 + 5] = -1;
        var both = ex.Backward(images, seed, ex.DefaultLayer, true);
        for (int i = 0; i < 2; i++)
        {
            var one = ex.Backward(new FloatTensor([1, 3, 224, 224], images.Item(i).ToArray()), new FloatTensor([1, 1000], seed.Item(i).ToArray()), ex.DefaultLayer, true);
            double m = one.InputGradient!.Data.Max(Math.Abs);
            Assert.True(one.InputGradient.Data.Zip(both.InputGradient!.Item(i).ToArray()).Max(p => Math.Abs(p.First - p.Second)) < 1e-4 * m);
            var (scores, acts) = ex.Forward(new FloatTensor([1, 3, 224, 224], images.Item(i).ToArray()), ex.DefaultLayer);
            Assert.True(acts.Data.Zip(both.Activations.Item(i).ToArray()).Max(p => Math.Abs(p.First - p.Second)) < 1e-4 * (1 + acts.Data.Max(Math.Abs)));
            Assert.Equal(1000, scores.Shape[1]);
        }
    }

    /// <summary>
    /// Relative errors of central differences along 5 random directions, each uniform in [−1, 1] on a random spatial
    /// window (¼ of H and W, all channels) and 0 elsewhere: a local perturbation crosses few ReLU/Clip kinks, while
    /// ⟨g, v⟩ stays far above float32 rounding of the score.
    /// </summary>
    internal static List<double> Directions(Random rng, double[] x, float[] grad, int[] shape, double vScale, double eps, Func<double[], double> f)
    {
        var errs = new List<double>();
        int ch = shape[1], h = shape[2], w = shape[3];
        int ph = Math.Max(1, h / 4), pw = Math.Max(1, w / 4);
        for (int k = 0; k < 5; k++)
        {
            int y0 = rng.Next(h - ph + 1), x0 = rng.Next(w - pw + 1);
            var v = new double[x.Length];
            for (int c = 0; c < ch; c++)
                for (int yy = y0; yy < y0 + ph; yy++)
                    for (int xx = x0; xx < x0 + pw; xx++)
                        v[(c * h + yy) * w + xx] = rng.NextDouble() * 2 - 1;
            double fd = (f(x.Zip(v, (a, b) => a + eps * vScale * b).ToArray()) - f(x.Zip(v, (a, b) => a - eps * vScale * b).ToArray())) / (2 * eps);
            double dot = 0;
            for (int i = 0; i < x.Length; i++) dot += grad[i] * v[i] * vScale;
            errs.Add(Math.Abs(fd - dot) / Math.Abs(dot));
        }
        return errs;
    }

    internal static double Median(List<double> v) => v.Order().ElementAt(v.Count / 2);

    /// <summary>The graph with <paramref name="layer"/>'s producer removed and <paramref name="layer"/> made an input.</summary>
    internal static ModelProto CutAt(ModelProto model, string layer)
    {
        var m = model.Clone();
        var producer = m.Graph.Node.Single(n => n.Output.Contains(layer));
        m.Graph.Node.Remove(producer);
        m.Graph.Input.Add(new ValueInfoProto { Name = layer, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1 } } });
        // Outputs of the removed producer other than the layer must still exist for its consumers.
        if (producer.Output.Count > 1) throw new InvalidOperationException("multi-output producer");
        return m;
    }

    /// <summary>DequantizeLinear(QuantizeLinear(x)) → x on activations (weights keep their DequantizeLinear).</summary>
    internal static void StripActivationQdq(ModelProto model)
    {
        var g = model.Graph;
        var qOut = g.Node.Where(n => n.OpType == "QuantizeLinear").ToDictionary(n => n.Output[0], n => n.Input[0]);
        foreach (var n in g.Node.Where(n => n.OpType == "DequantizeLinear" && qOut.ContainsKey(n.Input[0])).ToList())
        {
            string src = qOut[n.Input[0]];
            n.OpType = "Identity";
            n.Input.Clear();
            n.Input.Add(src);
            n.Attribute.Clear();
        }
        foreach (var q in g.Node.Where(n => n.OpType == "QuantizeLinear").ToList()) g.Node.Remove(q);
    }
}
