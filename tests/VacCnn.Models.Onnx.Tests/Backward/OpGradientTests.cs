using Onnx;
using Xunit.Abstractions;
using static VacCnn.Models.Onnx.Backward.OnnxBuild;

namespace VacCnn.Models.Onnx.Tests.Backward;

/// <summary>
/// One finite-difference check per operator (and per attribute variant): the gradient the backward graph computes
/// at the input must match central differences of the forward graph, element by element and along random directions.
/// float64 where ONNX Runtime's CPU kernels have double (ε = 1e-6, tolerance 1e-6); float32 otherwise (Conv,
/// ConvTranspose, pooling, LRN, HardSigmoid: ε = 1e-2 on N(0,1) inputs, tolerance 2e-3 relative to max |g|, which
/// covers float32 rounding of f ≈ Σ seed·y divided by 2ε). Inputs within 6ε of a kink of a piecewise op (Clip,
/// HardSigmoid bounds) are moved away; the multi-layer "family" graphs use ε = 1e-3 (fewer ReLU kinks crossed), since a difference quotient across a kink measures nothing.
/// </summary>
public sealed class OpGradientTests(ITestOutputHelper output)
{
    private const int F = 1, D = 11;

    private sealed record Case(int Type, long[] X, Action<TestGraph> Build, long Opset = 13, double[]? Kinks = null);

    private static readonly Dictionary<string, Case> Cases = new()
    {
        ["Conv groups=1 pads 1"] = new(F, [2, 3, 6, 6], g => g.Add("Conv", ["_", g.Const([4, 3, 3, 3]), g.Const([4])], Ints("pads", [1, 1, 1, 1]))),
        ["Conv depthwise groups=C"] = new(F, [2, 4, 6, 6], g => g.Add("Conv", ["_", g.Const([4, 1, 3, 3])], Int("group", 4), Ints("pads", [1, 1, 1, 1]))),
        ["Conv groups=2"] = new(F, [2, 4, 5, 5], g => g.Add("Conv", ["_", g.Const([6, 2, 3, 3])], Int("group", 2))),
        ["Conv stride 2 odd size"] = new(F, [2, 3, 7, 8], g => g.Add("Conv", ["_", g.Const([4, 3, 3, 3])], Ints("strides", [2, 2]), Ints("pads", [1, 1, 1, 1]))),
        ["Conv dilation 2"] = new(F, [2, 2, 7, 7], g => g.Add("Conv", ["_", g.Const([3, 2, 3, 3])], Ints("dilations", [2, 2]), Ints("pads", [2, 1, 0, 2]))),
        ["Conv asymmetric pads and strides"] = new(F, [2, 2, 6, 5], g => g.Add("Conv", ["_", g.Const([3, 2, 3, 2])], Ints("pads", [0, 1, 2, 0]), Ints("strides", [2, 1]))),
        ["Conv auto_pad SAME_UPPER stride 2"] = new(F, [2, 2, 7, 7], g => g.Add("Conv", ["_", g.Const([3, 2, 4, 4])], Str("auto_pad", "SAME_UPPER"), Ints("strides", [2, 2]))),
        ["Conv auto_pad SAME_LOWER"] = new(F, [2, 2, 6, 6], g => g.Add("Conv", ["_", g.Const([3, 2, 2, 2])], Str("auto_pad", "SAME_LOWER"))),
        // Stride 1 with pads beyond the window ((k − 1)·d − pad < 0): the flipped-kernel Conv does not apply, ConvTranspose is used.
        ["Conv 1x1 padded beyond its window"] = new(F, [2, 3, 4, 4], g => g.Add("Conv", ["_", g.Const([2, 3, 1, 1])], Ints("pads", [1, 0, 1, 1]))),
        ["Conv auto_pad VALID stride 3"] = new(F, [2, 2, 8, 8], g => g.Add("Conv", ["_", g.Const([3, 2, 3, 3])], Str("auto_pad", "VALID"), Ints("strides", [3, 3]))),
        ["MaxPool pads stride 2"] = new(F, [2, 2, 7, 7], g => g.Add("MaxPool", ["_"], Ints("kernel_shape", [3, 3]), Ints("strides", [2, 2]), Ints("pads", [1, 1, 1, 1]))),
        ["MaxPool overlapping stride 1"] = new(F, [2, 2, 5, 6], g => g.Add("MaxPool", ["_"], Ints("kernel_shape", [3, 2]))),
        ["MaxPool after Pad -3e38"] = new(F, [2, 2, 6, 6], g =>
        {
            g.Add("Pad", ["_", g.Ints(0, 0, 0, 0, 0, 0, 1, 1), g.Const([], [-3e38])]);
            g.Add("MaxPool", ["_"], Ints("kernel_shape", [3, 3]), Ints("strides", [2, 2]));
        }),
        ["AveragePool count_include_pad=0 pads"] = new(F, [2, 2, 7, 7], g =>
            g.Add("AveragePool", ["_"], Ints("kernel_shape", [3, 3]), Ints("strides", [2, 2]), Ints("pads", [1, 1, 1, 1]), Int("count_include_pad", 0))),
        ["AveragePool count_include_pad=1 pads"] = new(F, [2, 2, 7, 7], g =>
            g.Add("AveragePool", ["_"], Ints("kernel_shape", [3, 3]), Ints("strides", [2, 2]), Ints("pads", [1, 1, 1, 1]), Int("count_include_pad", 1))),
        ["AveragePool asymmetric count_include_pad=0"] = new(F, [2, 2, 6, 5], g =>
            g.Add("AveragePool", ["_"], Ints("kernel_shape", [3, 2]), Ints("strides", [2, 1]), Ints("pads", [1, 0, 0, 1]))),
        ["AveragePool SAME_UPPER"] = new(F, [2, 2, 6, 6], g => g.Add("AveragePool", ["_"], Ints("kernel_shape", [3, 3]), Str("auto_pad", "SAME_UPPER"))),
        ["GlobalAveragePool"] = new(F, [2, 3, 4, 5], g => { g.Add("GlobalAveragePool", ["_"]); g.Add("Mul", ["_", g.Const([3, 1, 1])]); }),
        ["GlobalMaxPool"] = new(F, [2, 3, 4, 5], g => { g.Add("GlobalMaxPool", ["_"]); g.Add("Mul", ["_", g.Const([3, 1, 1])]); }),
        ["Relu"] = new(D, [2, 3, 4, 5], g => g.Add("Relu", ["_"])),
        ["LeakyRelu"] = new(F, [2, 3, 4, 5], g => g.Add("LeakyRelu", ["_"], Float("alpha", 0.1f))),
        ["Sigmoid"] = new(D, [2, 3, 4, 5], g => g.Add("Sigmoid", ["_"])),
        ["Tanh, Exp, Neg"] = new(D, [2, 3, 4, 5], g => { g.Add("Tanh", ["_"]); g.Add("Exp", ["_"]); g.Add("Neg", ["_"]); }),
        ["HardSigmoid"] = new(F, [2, 3, 4, 5], g => { g.Add("Mul", ["_", g.Const([], [3])]); g.Add("HardSigmoid", ["_"], Float("alpha", 1f / 6), Float("beta", 0.5f)); }, Kinks: [-1, 1]),
        ["HardSwish (opset 14)"] = new(F, [2, 3, 4, 5], g => { g.Add("Mul", ["_", g.Const([], [3])]); g.Add("HardSwish", ["_"]); }, 14, [-1, 1]),
        ["x * HardSigmoid(x) (TFLite hard-swish)"] = new(F, [2, 3, 4, 5], g =>
        {
            g.Add("Mul", ["t", g.Const([], [3])]);
            string s = g.Last;
            g.Add("HardSigmoid", ["_"], Float("alpha", 1f / 6), Float("beta", 0.5f));
            g.Add("Mul", [s, "_"]);
        }, Kinks: [-1, 1]),
        ["Clip min/max inputs"] = new(D, [2, 3, 4, 5], g => g.Add("Clip", ["_", g.Const([], [-0.5]), g.Const([], [0.7])])),
        ["Clip max only"] = new(D, [2, 3, 4, 5], g => g.Add("Clip", ["_", "", g.Const([], [0.3])])),
        ["Clip attributes (opset 10, upgraded)"] = new(F, [2, 3, 4, 5], g => g.Add("Clip", ["_"], Float("min", -0.5f), Float("max", 0.7f)), 10, [-0.5, 0.7]),
        ["Mul broadcast constant [1,C,1,1] and [W]"] = new(D, [2, 3, 4, 5], g => { g.Add("Mul", ["_", g.Const([1, 3, 1, 1])]); g.Add("Mul", [g.Const([5]), "_"]); }),
        ["Mul both operands, broadcast [N,C,1,1]"] = new(D, [2, 3, 4, 5], g =>
        {
            string a = g.Add("ReduceMean", ["t"], Ints("axes", [2, 3]), Int("keepdims", 1));
            g.Add("Mul", ["t", a]);
        }),
        ["Add/Sub broadcast both operands"] = new(D, [2, 3, 4, 5], g =>
        {
            string a = g.Add("ReduceMean", ["t"], Ints("axes", [3]), Int("keepdims", 1));
            string s = g.Add("Sub", [g.Const([3, 1, 1]), "t"]);
            string p = g.Add("Add", [s, a]);
            g.Add("Sub", [p, g.Add("Sigmoid", [a])]);
        }),
        ["Div both operands with broadcasting"] = new(D, [2, 3, 4, 5], g =>
        {
            string a = g.Add("ReduceMean", ["t"], Ints("axes", [2, 3]), Int("keepdims", 1));
            string d = g.Add("Add", [g.Add("Mul", [a, a]), g.Const([], [1])]);
            string q = g.Add("Div", ["t", d]);
            string r = g.Add("Div", [g.Const([3, 1, 1]), g.Add("Add", [g.Add("Mul", ["t", "t"]), g.Const([], [1])])]);
            g.Add("Add", [q, r]);
        }),
        ["Gemm transB alpha beta"] = new(D, [2, 3, 4, 5], g => { g.Add("Flatten", ["_"]); g.Add("Gemm", ["_", g.Const([10, 60]), g.Const([10])], Int("transB", 1), Float("alpha", 0.7f), Float("beta", 0.3f)); }),
        ["Gemm transA"] = new(D, [2, 3, 4, 5], g => { g.Add("Flatten", ["_"]); g.Add("Transpose", ["_"]); g.Add("Gemm", ["_", g.Const([60, 4])], Int("transA", 1)); }),
        ["Gemm both operands activations"] = new(D, [2, 3, 2, 2], g =>
        {
            string f = g.Add("Flatten", ["_"]);
            g.Add("Gemm", [f, f], Int("transB", 1));
        }),
        ["MatMul constant and activation x activationᵀ"] = new(D, [2, 3, 4, 5], g =>
        {
            string r = g.Add("Reshape", ["t", g.Ints(0, 3, 20)]);
            string m = g.Add("MatMul", [r, g.Add("Transpose", [r], Ints("perm", [0, 2, 1]))]);
            g.Add("MatMul", [m, g.Const([3, 4])]);
        }),
        ["Reshape/Transpose channel shuffle"] = new(D, [2, 6, 3, 3], g =>
        {
            g.Add("Reshape", ["_", g.Ints(0, 2, 3, 3, 3)]);
            g.Add("Transpose", ["_"], Ints("perm", [0, 2, 1, 3, 4]));
            g.Add("Reshape", ["_", g.Ints(0, 6, 3, 3)]);
            g.Add("Mul", ["_", g.Const([6, 1, 1])]);
        }),
        ["Concat axis 1"] = new(D, [2, 3, 4, 5], g => { g.Add("Concat", ["t", g.Add("Sigmoid", ["t"])], Int("axis", 1)); g.Add("Mul", ["_", g.Const([6, 1, 1])]); }),
        ["Split, one output unused"] = new(D, [2, 3, 4, 5], g => g.AddMulti("Split", ["_", g.Ints(1, 2)], 2, Int("axis", 1))),
        ["Split equal parts, both used"] = new(D, [2, 4, 4, 5], g =>
        {
            var o = g.AddMulti("Split", ["_"], 2, Int("axis", 1));
            g.Add("Mul", [o[0], g.Add("Sigmoid", [o[1]])]);
        }),
        ["Slice"] = new(D, [2, 3, 4, 5], g => g.Add("Slice", ["_", g.Ints(1, 1), g.Ints(3, -1), g.Ints(1, 3)])),
        ["Pad constant"] = new(D, [2, 3, 4, 5], g => { g.Add("Pad", ["_", g.Ints(0, 1, 2, 0, 0, 0, 1, 3), g.Const([], [0.5])]); g.Add("Mul", ["_", "_"]); }),
        ["Squeeze/Unsqueeze/Flatten"] = new(D, [2, 3, 4, 5], g => { g.Add("Unsqueeze", ["_", g.Ints(2)]); g.Add("Squeeze", ["_", g.Ints(2)]); g.Add("Flatten", ["_"], Int("axis", 2)); g.Add("Sigmoid", ["_"]); }),
        ["BatchNormalization"] = new(D, [2, 3, 4, 5], g =>
            g.Add("BatchNormalization", ["_", g.Const([3]), g.Const([3]), g.Const([3]), g.Const([3], [0.5, 1.5, 2.0])], Float("epsilon", 1e-3f))),
        ["BatchNormalization spatial=1 (opset 8, upgraded)"] = new(F, [2, 3, 4, 5], g =>
            g.Add("BatchNormalization", ["_", g.Const([3]), g.Const([3]), g.Const([3]), g.Const([3], [0.5, 1.5, 2.0])], Float("epsilon", 1e-3f), Int("spatial", 1)), 8),
        ["Slice starts from shape arithmetic (torch chunk)"] = new(D, [2, 4, 3, 3], g =>
        {
            // ShuffleNet V2 exports x.chunk(2, dim=1) as Slice with starts/ends computed from Shape at run time.
            string half = g.Add("Div", [g.Add("Gather", [g.Add("Shape", ["t"]), g.Ints(1)], Int("axis", 0)), g.Ints(2)]);
            string lo = g.Add("Slice", ["t", g.Ints(0), half, g.Ints(1)]);
            string hi = g.Add("Slice", ["t", half, g.Ints(long.MaxValue), g.Ints(1)]);
            g.Add("Mul", [lo, g.Add("Sigmoid", [hi])]);
        }),
        ["LRN size 5"] = new(F, [2, 7, 3, 3], g => g.Add("LRN", ["_"], Int("size", 5), Float("alpha", 0.5f), Float("beta", 0.75f), Float("bias", 1.5f))),
        ["LRN size 3"] = new(F, [2, 6, 3, 3], g => g.Add("LRN", ["_"], Int("size", 3), Float("alpha", 0.8f), Float("beta", 0.6f), Float("bias", 2f))),
        ["ReduceMean keepdims 0"] = new(D, [2, 3, 4, 5], g => { g.Add("ReduceMean", ["_"], Ints("axes", [2, 3]), Int("keepdims", 0)); g.Add("Mul", ["_", g.Const([3])]); }),
        ["ReduceSum axes input"] = new(D, [2, 3, 4, 5], g => { g.Add("ReduceSum", ["_", g.Ints(-1)], Int("keepdims", 1)); g.Add("Mul", ["_", "_"]); }),
        ["Softmax axis 1"] = new(D, [2, 3, 4, 5], g => g.Add("Softmax", ["_"], Int("axis", 1))),
        ["Softmax opset 11 (flattening semantics, upgraded)"] = new(F, [2, 3, 2, 2], g => g.Add("Softmax", ["_"], Int("axis", 1)), 11),
        ["LogSoftmax"] = new(D, [2, 3, 4, 5], g => g.Add("LogSoftmax", ["_"], Int("axis", -1))),
        ["Gather axis 1 repeated indices"] = new(D, [2, 3, 4, 5], g => g.Add("Gather", ["_", g.Ints(2, 0, 2, -1)], Int("axis", 1))),
        ["Gather axis 3, 2-D indices"] = new(D, [2, 3, 4, 5], g =>
        {
            string idx = "idx2d";
            g.Graph.Initializer.Add(Int64s(idx, [2, 2], [1, 1, 0, 4]));
            g.Add("Gather", ["_", idx], Int("axis", 3));
        }),
        ["Dropout and Identity"] = new(D, [2, 3, 4, 5], g => { g.Add("Dropout", ["_"]); g.Add("Identity", ["_"]); g.Add("Mul", ["_", "_"]); }),
        // Small graphs of each architecture family.
        ["family: residual block (Conv-Relu-Conv + skip, Relu)"] = new(F, [2, 3, 5, 5], g =>
        {
            g.Add("Conv", ["t", g.Const([3, 3, 3, 3], scale: 0.5), g.Const([3])], Ints("pads", [1, 1, 1, 1]));
            g.Add("Relu", ["_"]);
            g.Add("Conv", ["_", g.Const([3, 3, 3, 3], scale: 0.5)], Ints("pads", [1, 1, 1, 1]));
            g.Add("Add", ["_", "t"]);
            g.Add("Relu", ["_"]);
        }),
        ["family: dense block (Concat, BN, Relu, Conv)"] = new(F, [2, 3, 4, 4], g =>
        {
            string c = g.Add("Conv", ["t", g.Const([2, 3, 3, 3])], Ints("pads", [1, 1, 1, 1]));
            g.Add("Concat", ["t", c], Int("axis", 1));
            g.Add("BatchNormalization", ["_", g.Const([5]), g.Const([5]), g.Const([5]), g.Const([5], [1, 2, 0.5, 1, 3])]);
            g.Add("Relu", ["_"]);
            g.Add("Conv", ["_", g.Const([3, 5, 1, 1])]);
        }),
        ["family: fire module (squeeze 1x1, expand 1x1 + 3x3, Concat)"] = new(F, [2, 4, 5, 5], g =>
        {
            string sq = g.Add("Relu", [g.Add("Conv", ["t", g.Const([2, 4, 1, 1]), g.Const([2], offset: 0.5)])]);
            string e1 = g.Add("Relu", [g.Add("Conv", [sq, g.Const([3, 2, 1, 1]), g.Const([3])])]);
            string e3 = g.Add("Relu", [g.Add("Conv", [sq, g.Const([3, 2, 3, 3]), g.Const([3])], Ints("pads", [1, 1, 1, 1]))]);
            g.Add("Concat", [e1, e3], Int("axis", 1));
            g.Add("GlobalAveragePool", ["_"]);
        }),
        ["family: VGG/AlexNet head (MaxPool, LRN, Gemm, Dropout)"] = new(F, [2, 3, 6, 6], g =>
        {
            g.Add("Conv", ["t", g.Const([4, 3, 3, 3]), g.Const([4])], Ints("pads", [1, 1, 1, 1]));
            g.Add("Relu", ["_"]);
            g.Add("LRN", ["_"], Int("size", 3), Float("alpha", 0.3f), Float("beta", 0.75f), Float("bias", 1f));
            g.Add("MaxPool", ["_"], Ints("kernel_shape", [3, 3]), Ints("strides", [2, 2]));
            g.Add("Flatten", ["_"]);
            g.Add("Gemm", ["_", g.Const([8, 16]), g.Const([8])], Int("transB", 1));
            g.Add("Relu", ["_"]);
            g.Add("Dropout", ["_"]);
            g.Add("Gemm", ["_", g.Const([8, 5])]);
        }),
        // Folded before differentiation (ForwardSimplifier): the gradient must be that of the graph as written.
        ["family: TFLite-converted block (zero Pad, NHWC Transpose pairs, Conv, per-channel Mul/Add, ReLU6)"] = new(F, [2, 3, 5, 5], g =>
        {
            g.Add("Pad", ["t", g.Ints(0, 0, 1, 0, 0, 0, 1, 2)]);
            g.Add("Transpose", ["_"], Ints("perm", [0, 2, 3, 1]));
            g.Add("Transpose", ["_"], Ints("perm", [0, 3, 1, 2]));
            g.Add("Conv", ["_", g.Const([4, 3, 3, 3], scale: 0.5), g.Const([4])], Ints("pads", [1, 0, 0, 1]));
            g.Add("Transpose", ["_"], Ints("perm", [0, 2, 3, 1]));
            g.Add("Transpose", ["_"], Ints("perm", [0, 3, 1, 2]));
            g.Add("Mul", ["_", g.Const([4, 1, 1], [0.5, -1.5, 2, 1])]);
            g.Add("Add", [g.Const([1, 4, 1, 1], [0.25, 1, -0.5, 0]), "_"]);
            g.Add("Clip", ["_", g.Const([], [0]), g.Const([], [2])]);
            g.Add("Conv", ["_", g.Const([2, 4, 1, 1])]);
        }),
        ["family: shuffle unit (Split, Conv, Concat, Reshape/Transpose)"] = new(F, [2, 4, 4, 4], g =>
        {
            var halves = g.AddMulti("Split", ["t"], 2, Int("axis", 1));
            string b = g.Add("Relu", [g.Add("Conv", [halves[1], g.Const([2, 1, 3, 3])], Int("group", 2), Ints("pads", [1, 1, 1, 1]))]);
            g.Add("Concat", [halves[0], b], Int("axis", 1));
            g.Add("Reshape", ["_", g.Ints(0, 2, 2, 4, 4)]);
            g.Add("Transpose", ["_"], Ints("perm", [0, 2, 1, 3, 4]));
            g.Add("Reshape", ["_", g.Ints(0, 4, 4, 4)]);
        }),
    };

    public static TheoryData<string> CaseNames() => new(Cases.Keys);

    [Theory, MemberData(nameof(CaseNames))]
    public void Gradient_matches_central_differences(string name)
    {
        var c = Cases[name];
        var g = new TestGraph(c.Type, c.X);
        c.Build(g);
        var model = g.Finish(c.Opset);
        bool dbl = c.Type == D;
        var r = GradCheck.Check(model, c.Type, c.X, eps: dbl ? 1e-6 : name.StartsWith("family") ? 1e-3 : 1e-2, kinks: c.Kinks);
        output.WriteLine($"{name}: {(dbl ? "float64" : "float32")} elementwise {r.Elementwise:E2}, directional {r.Directional:E2}, |g| {r.GradNorm:G3}");
        Assert.True(r.GradNorm > 1e-3, "vacuous check: gradient is zero");
        double tol = dbl ? 1e-6 : 2e-3;
        Assert.True(r.Elementwise < tol, $"elementwise error {r.Elementwise:E2} ≥ {tol}");
        Assert.True(r.Directional < tol, $"directional error {r.Directional:E2} ≥ {tol}");
    }
}
