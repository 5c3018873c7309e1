using VacCnn.Models.Onnx.Backward;
using Xunit.Abstractions;
using static VacCnn.Models.Onnx.Backward.OnnxBuild;

namespace VacCnn.Models.Onnx.Tests.Backward;

/// <summary>Exact identities and refusals of the backward builder on small graphs built here.</summary>
public sealed class SyntheticIdentityTests(ITestOutputHelper output)
{
    /// <summary>
    /// What TFLite converters write around each convolution — a zero Pad, NHWC↔NCHW Transpose pairs, batch norm as a
    /// per-channel Mul and Add — is folded before differentiation, so neither the forward part nor the backward part of
    /// the augmented graph keeps those nodes (their gradients would be a Slice, Transposes and a Mul per layer); a
    /// non-zero Pad and the tensors that must stay observable are left alone. The gradient of such a block is checked
    /// by finite differences in <see cref="OpGradientTests"/>.
    /// </summary>
    [Fact]
    public void Converter_padding_transposes_and_channel_affines_are_folded_before_differentiation()
    {
        var g = new TestGraph(1, [1, 3, 6, 6]);
        g.Add("Pad", ["t", g.Ints(0, 0, 1, 1, 0, 0, 1, 1)]);
        g.Add("Transpose", ["_"], Ints("perm", [0, 2, 3, 1]));
        g.Add("Transpose", ["_"], Ints("perm", [0, 3, 1, 2]));
        g.Add("Conv", ["_", g.Const([4, 3, 3, 3])]);
        g.Add("Mul", ["_", g.Const([4, 1, 1])]);
        g.Add("Add", ["_", g.Const([4, 1, 1])]);
        string relu = g.Add("Relu", ["_"]);
        g.Add("Pad", ["_", g.Ints(0, 0, 1, 1, 0, 0, 1, 1), g.Const([], [0.5])]); // not zero: stays
        g.Add("Conv", ["_", g.Const([2, 4, 3, 3])]);
        var model = g.Finish();

        var graph = BackwardGraphBuilder.Build(model, "x", "y", relu, true, [1, 3, 6, 6]);
        var ops = graph.Model.Graph.Node.Select(n => n.OpType).ToList();
        output.WriteLine(string.Join(" ", ops));
        Assert.DoesNotContain("Transpose", ops);
        Assert.DoesNotContain("Mul", ops);
        Assert.Equal(1, ops.Count(o => o == "Pad"));   // the 0.5 pad
        Assert.Equal(1, ops.Count(o => o == "Slice")); // its gradient
        Assert.DoesNotContain(graph.Model.Graph.Node, n => n.OpType == "Add" && n.Input.Any(i => i.StartsWith('c')));
    }

    /// <summary>
    /// GAP → fully connected: score_k = Σ_c W[k,c]·mean_hw(A[c]) + b_k, so dscore_k/dA[c,h,w] = W[k,c]/(H·W) at every
    /// position, and the Grad-CAM channel weight (mean of that gradient over positions) is W[k,c]/(H·W) too.
    /// A conv + ReLU in front makes A a real feature map (float32: ONNX Runtime has no float64 Conv).
    /// </summary>
    [Fact]
    public void Gap_fc_gradient_and_gradcam_weights_equal_fc_weights_over_hw()
    {
        const int c = 6, h = 5, w = 7, classes = 4, k = 2;
        var g = new TestGraph(1, [1, 3, h, w], seed: 4);
        g.Add("Conv", ["t", g.Const([c, 3, 3, 3]), g.Const([c])], Ints("pads", [1, 1, 1, 1]));
        string a = g.Add("Relu", ["_"]);
        g.Add("GlobalAveragePool", ["_"]);
        g.Add("Flatten", ["_"]);
        string wName = g.Const([classes, c]);
        g.Add("Gemm", ["_", wName, g.Const([classes])], Int("transB", 1));
        var model = g.Finish();
        double[] wv = OnnxTensors.ReadAsDoubles(model.Graph.Initializer.Single(t => t.Name == wName));

        var graph = BackwardGraphBuilder.Build(model, "x", "y", a, false, [1, 3, h, w]);
        using var run = new Runner(graph.Model, 1);
        var rng = new Random(9);
        var x = Enumerable.Range(0, 3 * h * w).Select(_ => TestGraph.Normal(rng)).ToArray();
        var seed = new double[classes];
        seed[k] = 1;
        var outs = run.Run([("x", x, [1, 3, h, w]), ("seed", seed, [1, classes])], graph.LayerGradientName);
        double[] grad = outs[0];
        double err = 0, weightErr = 0, wMax = wv.Max(Math.Abs) / (h * w);
        for (int ch = 0; ch < c; ch++)
        {
            double expect = wv[k * c + ch] / (h * w);
            double mean = 0;
            for (int p = 0; p < h * w; p++)
            {
                err = Math.Max(err, Math.Abs(grad[ch * h * w + p] - expect));
                mean += grad[ch * h * w + p] / (h * w);
            }
            weightErr = Math.Max(weightErr, Math.Abs(mean - expect));
        }
        output.WriteLine($"max |dS/dA − W/(HW)| / max|W/(HW)| = {err / wMax:E2}, Grad-CAM weights {weightErr / wMax:E2}");
        Assert.True(err / wMax < 1e-6 && weightErr / wMax < 1e-6);
    }

    [Fact]
    public void An_unsupported_operator_on_the_path_is_refused_naming_the_operator_and_the_node()
    {
        var g = new TestGraph(1, [1, 2, 3, 3]);
        g.Add("Relu", ["_"]);
        g.Add("Erf", ["_"]);
        g.Add("GlobalAveragePool", ["_"]);
        var model = g.Finish();
        var erf = model.Graph.Node.Single(n => n.OpType == "Erf");
        var e = Assert.Throws<NotSupportedException>(() => BackwardGraphBuilder.Build(model, "x", "y", "t", true, [1, 2, 3, 3]));
        output.WriteLine(e.Message);
        Assert.Contains("'Erf'", e.Message);
        Assert.Contains($"'{erf.Name}'", e.Message);
    }
}
