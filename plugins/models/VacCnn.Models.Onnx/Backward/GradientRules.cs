using Onnx;
using static VacCnn.Models.Onnx.Backward.OnnxBuild;

namespace VacCnn.Models.Onnx.Backward;

/// <summary>The gradient formula of each supported operator (forward semantics as in the ONNX operator spec).</summary>
public sealed partial class BackwardGraphBuilder
{
    private sealed record Rule(int[] Inputs, Action<BackwardGraphBuilder, NodeProto, string?[], int[]> Emit);

    /// <summary>Operators whose gradient is implemented, and the input positions it is implemented for.</summary>
    public static IReadOnlyCollection<string> SupportedOperators => Rules.Keys;

    private static readonly Dictionary<string, Rule> Rules = new(StringComparer.Ordinal)
    {
        // Identity-like: Dropout at inference is the identity; QuantizeLinear/DequantizeLinear on activations use the
        // straight-through estimator (the scale of Q and of its DQ cancel, so d DQ(Q(x))/dx := 1).
        ["Identity"] = new([0], (b, n, g, _) => b.Accumulate(n.Input[0], g[0]!)),
        ["Dropout"] = new([0], (b, n, g, _) => b.Accumulate(n.Input[0], g[0]!)),
        ["QuantizeLinear"] = new([0], (b, n, g, _) => b.Accumulate(n.Input[0], g[0]!)),
        ["DequantizeLinear"] = new([0], (b, n, g, _) => b.Accumulate(n.Input[0], g[0]!)),
        ["Flatten"] = new([0], (b, n, g, _) => b.Accumulate(n.Input[0], b.ReshapeLike(g[0]!, n.Input[0]))),
        ["Reshape"] = new([0], (b, n, g, _) => b.Accumulate(n.Input[0], b.ReshapeLike(g[0]!, n.Input[0]))),
        ["Squeeze"] = new([0], (b, n, g, _) => b.Accumulate(n.Input[0], b.ReshapeLike(g[0]!, n.Input[0]))),
        ["Unsqueeze"] = new([0], (b, n, g, _) => b.Accumulate(n.Input[0], b.ReshapeLike(g[0]!, n.Input[0]))),
        ["Transpose"] = new([0], (b, n, g, _) => b.TransposeGrad(n, g[0]!)),
        ["Relu"] = new([0], (b, n, g, _) =>
            // PyTorch threshold_backward: grad where x > 0, else 0 (0 at the kink). Tested on the output (y > 0 ⇔ x > 0)
            // so that x has one reader and ONNX Runtime can still fuse the producing Conv with the Relu.
            b.Accumulate(n.Input[0], b.Op("Where", [b.Op("Greater", [n.Output[0], b.Scalar(0)]), g[0]!, b.Scalar(0)]))),
        ["LeakyRelu"] = new([0], (b, n, g, _) =>
        {
            float alpha = AttrFloat(n, "alpha", 0.01f);
            b.Accumulate(n.Input[0], b.Op("Where", [b.Op("Greater", [n.Input[0], b.Scalar(0)]), g[0]!, b.Op("Mul", [g[0]!, b.Scalar(alpha)])]));
        }),
        ["PRelu"] = new([0], (b, n, g, _) =>
            b.Accumulate(n.Input[0], b.Op("Where", [b.Op("Greater", [n.Input[0], b.Scalar(0)]), g[0]!, b.Op("Mul", [g[0]!, n.Input[1]])]))),
        ["Clip"] = new([0], (b, n, g, _) => b.ClipGrad(n, g[0]!)),
        ["Sigmoid"] = new([0], (b, n, g, _) =>
            b.Accumulate(n.Input[0], b.Op("Mul", [g[0]!, b.Op("Mul", [n.Output[0], b.Op("Sub", [b.Scalar(1), n.Output[0]])])]))),
        ["Tanh"] = new([0], (b, n, g, _) =>
            b.Accumulate(n.Input[0], b.Op("Mul", [g[0]!, b.Op("Sub", [b.Scalar(1), b.Op("Mul", [n.Output[0], n.Output[0]])])]))),
        ["Exp"] = new([0], (b, n, g, _) => b.Accumulate(n.Input[0], b.Op("Mul", [g[0]!, n.Output[0]]))),
        ["Neg"] = new([0], (b, n, g, _) => b.Accumulate(n.Input[0], b.Op("Neg", [g[0]!]))),
        ["HardSigmoid"] = new([0], (b, n, g, _) => b.HardSigmoidGrad(n, g[0]!)),
        ["HardSwish"] = new([0], (b, n, g, _) => b.HardSwishGrad(n, g[0]!)),
        ["Add"] = new([0, 1], (b, n, g, need) => { foreach (int i in need) b.Accumulate(n.Input[i], b.ReduceTo(g[0]!, n.Output[0], n.Input[i])); }),
        ["Sum"] = new(Enumerable.Range(0, 64).ToArray(), (b, n, g, need) => { foreach (int i in need) b.Accumulate(n.Input[i], b.ReduceTo(g[0]!, n.Output[0], n.Input[i])); }),
        ["Sub"] = new([0, 1], (b, n, g, need) =>
        {
            foreach (int i in need)
            {
                string r = b.ReduceTo(g[0]!, n.Output[0], n.Input[i]);
                b.Accumulate(n.Input[i], i == 0 ? r : b.Op("Neg", [r]));
            }
        }),
        ["Mul"] = new([0, 1], (b, n, g, need) =>
        {
            foreach (int i in need) b.Accumulate(n.Input[i], b.ReduceTo(b.Op("Mul", [g[0]!, n.Input[1 - i]]), n.Output[0], n.Input[i]));
        }),
        ["Div"] = new([0, 1], (b, n, g, need) =>
        {
            // y = a / b: da = g / b, db = −g·y / b.
            foreach (int i in need)
            {
                string local = i == 0 ? b.Op("Div", [g[0]!, n.Input[1]]) : b.Op("Neg", [b.Op("Div", [b.Op("Mul", [g[0]!, n.Output[0]]), n.Input[1]])]);
                b.Accumulate(n.Input[i], b.ReduceTo(local, n.Output[0], n.Input[i]));
            }
        }),
        ["Conv"] = new([0], (b, n, g, _) => b.ConvGrad(n, g[0]!)),
        ["BatchNormalization"] = new([0], (b, n, g, _) => b.BatchNormGrad(n, g[0]!)),
        ["MaxPool"] = new([0], (b, n, g, _) => b.MaxPoolGrad(n, g[0]!, global: false)),
        ["GlobalMaxPool"] = new([0], (b, n, g, _) => b.MaxPoolGrad(n, g[0]!, global: true)),
        ["AveragePool"] = new([0], (b, n, g, _) => b.AveragePoolGrad(n, g[0]!)),
        ["GlobalAveragePool"] = new([0], (b, n, g, _) =>
        {
            long hw = b.ShapeOf(n.Input[0]).Skip(2).Aggregate(1L, (a, d) => a * d);
            b.Accumulate(n.Input[0], b.Op("Expand", [b.Op("Div", [g[0]!, b.Scalar(hw)]), b.Op("Shape", [n.Input[0]])]));
        }),
        ["ReduceMean"] = new([0], (b, n, g, _) => b.ReduceGrad(n, g[0]!, mean: true)),
        ["ReduceSum"] = new([0], (b, n, g, _) => b.ReduceGrad(n, g[0]!, mean: false)),
        ["Concat"] = new(Enumerable.Range(0, 4096).ToArray(), (b, n, g, need) => b.ConcatGrad(n, g[0]!, need)),
        ["Split"] = new([0], (b, n, g, _) => b.SplitGrad(n, g)),
        ["Slice"] = new([0], (b, n, g, _) => b.SliceGrad(n, g[0]!)),
        ["Pad"] = new([0], (b, n, g, _) => b.PadGrad(n, g[0]!)),
        ["Gemm"] = new([0, 1, 2], (b, n, g, need) => b.GemmGrad(n, g[0]!, need)),
        ["MatMul"] = new([0, 1], (b, n, g, need) => b.MatMulGrad(n, g[0]!, need)),
        ["Softmax"] = new([0], (b, n, g, _) =>
        {
            // dx = y ⊙ (g − Σ_axis g⊙y)   (opset ≥ 13: one axis, default −1)
            long axis = AttrInt(n, "axis", -1);
            string y = n.Output[0];
            string s = b.Op("ReduceSum", [b.Op("Mul", [g[0]!, y]), b.I64(axis)], Int("keepdims", 1));
            b.Accumulate(n.Input[0], b.Op("Mul", [y, b.Op("Sub", [g[0]!, s])]));
        }),
        ["LogSoftmax"] = new([0], (b, n, g, _) =>
        {
            long axis = AttrInt(n, "axis", -1);
            string s = b.Op("ReduceSum", [g[0]!, b.I64(axis)], Int("keepdims", 1));
            b.Accumulate(n.Input[0], b.Op("Sub", [g[0]!, b.Op("Mul", [b.Op("Exp", [n.Output[0]]), s])]));
        }),
        ["LRN"] = new([0], (b, n, g, _) => b.LrnGrad(n, g[0]!)),
        ["Gather"] = new([0], (b, n, g, _) => b.GatherGrad(n, g[0]!)),
    };

    private void TransposeGrad(NodeProto n, string g)
    {
        int rank = ShapeOf(n.Input[0]).Length;
        long[] perm = AttrInts(n, "perm") ?? Enumerable.Range(0, rank).Reverse().Select(i => (long)i).ToArray();
        var inv = new long[perm.Length];
        for (int i = 0; i < perm.Length; i++) inv[perm[i]] = i;
        Accumulate(n.Input[0], Op("Transpose", [g], Ints("perm", inv)));
    }

    /// <summary>
    /// Clip passes the gradient where min &lt; x &lt; max (strict), as PyTorch's hardtanh_backward does (nn.ReLU6 and
    /// nn.Hardtanh; exported to ONNX as Clip). Bounds: inputs 1/2 (opset ≥ 11; attributes were moved on upgrade).
    /// The bounds are tested on the output y = clamp(x), which lies strictly inside them exactly where x does, so that
    /// x keeps one reader and ONNX Runtime can still fuse the producing Conv with the Clip (ReLU6).
    /// </summary>
    private void ClipGrad(NodeProto n, string g)
    {
        string x = n.Input[0], y = n.Output[0];
        string? mask = null;
        if (HasInput(n, 1)) mask = Op("Greater", [y, n.Input[1]]);
        if (HasInput(n, 2))
        {
            string upper = Op("Less", [y, n.Input[2]]);
            mask = mask == null ? upper : Op("And", [mask, upper]);
        }
        Accumulate(x, mask == null ? g : Op("Where", [mask, g, Scalar(0)]));
    }

    /// <summary>y = max(0, min(1, αx+β)): gradient α where 0 &lt; αx+β &lt; 1 (strict, as PyTorch's hardsigmoid_backward).</summary>
    private void HardSigmoidGrad(NodeProto n, string g)
    {
        float alpha = AttrFloat(n, "alpha", 0.2f), beta = AttrFloat(n, "beta", 0.5f);
        string t = Op("Add", [Op("Mul", [n.Input[0], Scalar(alpha)]), Scalar(beta)]);
        string mask = Op("And", [Op("Greater", [t, Scalar(0)]), Op("Less", [t, Scalar(1)])]);
        Accumulate(n.Input[0], Op("Where", [mask, Op("Mul", [g, Scalar(alpha)]), Scalar(0)]));
    }

    /// <summary>PyTorch hardswish_backward: 0 for x &lt; −3, g·(x/3 + ½) for x ≤ 3, g above.</summary>
    private void HardSwishGrad(NodeProto n, string g)
    {
        string x = n.Input[0];
        string mid = Op("Mul", [g, Op("Add", [Op("Div", [x, Scalar(3)]), Scalar(0.5)])]);
        string upper = Op("Where", [Op("LessOrEqual", [x, Scalar(3)]), mid, g]);
        Accumulate(x, Op("Where", [Op("Less", [x, Scalar(-3)]), Scalar(0), upper]));
    }

    /// <summary>Explicit begin/end pads of a conv/pool node, resolving auto_pad from the static shapes.</summary>
    private (long[] Begin, long[] End) ResolvePads(NodeProto n, long[] inSpatial, long[] outSpatial, long[] kernel, long[] strides, long[] dilations)
    {
        int k = inSpatial.Length;
        var begin = new long[k];
        var end = new long[k];
        string autoPad = AttrString(n, "auto_pad", "NOTSET");
        if (autoPad is "SAME_UPPER" or "SAME_LOWER")
        {
            for (int i = 0; i < k; i++)
            {
                long ke = (kernel[i] - 1) * dilations[i] + 1;
                long total = Math.Max(0, (outSpatial[i] - 1) * strides[i] + ke - inSpatial[i]);
                // SAME_UPPER puts the odd extra pad at the end, SAME_LOWER at the beginning.
                begin[i] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
                end[i] = total - begin[i];
            }
        }
        else if (autoPad is "NOTSET")
        {
            long[] pads = AttrInts(n, "pads") ?? new long[2 * k];
            for (int i = 0; i < k; i++) { begin[i] = pads[i]; end[i] = pads[k + i]; }
        }
        return (begin, end);
    }

    /// <summary>
    /// ConvTranspose with the conv's own attributes is the adjoint of Conv w.r.t. its input (its weight layout
    /// [C_in_t, C_out_t/group, k…] equals Conv's [C_out, C_in/group, k…]); output_padding restores the input size when
    /// the last rows/cols were not reached by the forward windows.
    /// </summary>
    private string TransposedWindow(NodeProto n, string g, string weight, long[] kernel, long group, string x, string y)
    {
        long[] xs = ShapeOf(x), ys = ShapeOf(y);
        long[] inSp = xs[2..], outSp = ys[2..];
        int k = inSp.Length;
        long[] strides = AttrInts(n, "strides") ?? Enumerable.Repeat(1L, k).ToArray();
        long[] dilations = AttrInts(n, "dilations") ?? Enumerable.Repeat(1L, k).ToArray();
        var (pb, pe) = ResolvePads(n, inSp, outSp, kernel, strides, dilations);
        var outPad = new long[k];
        for (int i = 0; i < k; i++)
        {
            long ke = (kernel[i] - 1) * dilations[i] + 1;
            outPad[i] = inSp[i] - ((outSp[i] - 1) * strides[i] + ke - pb[i] - pe[i]);
            if (outPad[i] < 0 || outPad[i] >= Math.Max(strides[i], dilations[i]))
                throw new NotSupportedException($"{n.OpType} node '{n.Name}': window layout (ceil_mode?) gives output_padding {outPad[i]}, not supported");
        }
        return Op("ConvTranspose", [g, weight], Ints("kernel_shape", kernel), Ints("strides", strides), Ints("dilations", dilations),
            Ints("pads", pb.Concat(pe)), Ints("output_padding", outPad), Int("group", group));
    }

    private void ConvGrad(NodeProto n, string g)
    {
        long[] w = ShapeOf(n.Input[1]);
        long[] kernel = AttrInts(n, "kernel_shape") ?? w[2..];
        long group = AttrInt(n, "group", 1);
        Accumulate(n.Input[0], FlippedConv(n, g, kernel, group)
            ?? TransposedWindow(n, g, n.Input[1], kernel, group, n.Input[0], n.Output[0]));
    }

    /// <summary>
    /// For a stride-1 2-D Conv with constant weights, the input gradient as an ordinary Conv: the same window run over
    /// the output gradient with the kernel flipped in space and its input/output channels swapped (per group), padded
    /// by (k − 1)·d − pad on each side. It computes exactly what ConvTranspose does, but ONNX Runtime's Conv kernels
    /// (NCHWc, depthwise) are far faster than its ConvTranspose: about 1.5× on ResNet-18 and much more on depthwise
    /// convolutions. Null when it does not apply (strided, not 2-D, weights computed at run time, pads beyond the window).
    /// </summary>
    private string? FlippedConv(NodeProto n, string g, long[] kernel, long group)
    {
        if (kernel.Length != 2 || !_constants.TryGetValue(n.Input[1], out var weightProto)) return null;
        long[] strides = AttrInts(n, "strides") ?? [1, 1];
        long[] dilations = AttrInts(n, "dilations") ?? [1, 1];
        if (strides.Any(v => v != 1)) return null;
        long[] xs = ShapeOf(n.Input[0]), ys = ShapeOf(n.Output[0]);
        var (pb, pe) = ResolvePads(n, xs[2..], ys[2..], kernel, strides, dilations);
        var pads = new long[4];
        for (int i = 0; i < 2; i++)
        {
            pads[i] = (kernel[i] - 1) * dilations[i] - pb[i];
            pads[2 + i] = (kernel[i] - 1) * dilations[i] - pe[i];
            if (pads[i] < 0 || pads[2 + i] < 0) return null;
        }
        long[] ws = ShapeOf(n.Input[1]);
        long m = ws[0], cg = ws[1], kh = ws[2], kw = ws[3], mg = m / group;
        var source = OnnxTensors.ReadAsDoubles(weightProto);
        var flipped = new double[source.Length];
        // W'[gi·Cg + ci, mi, y, x] = W[gi·Mg + mi, ci, kh−1−y, kw−1−x]
        for (long gi = 0; gi < group; gi++)
            for (long mi = 0; mi < mg; mi++)
                for (long ci = 0; ci < cg; ci++)
                    for (long y = 0; y < kh; y++)
                        for (long x = 0; x < kw; x++)
                            flipped[(((gi * cg + ci) * mg + mi) * kh + y) * kw + x] = source[(((gi * mg + mi) * cg + ci) * kh + (kh - 1 - y)) * kw + (kw - 1 - x)];
        string weight = Real([group * cg, mg, kh, kw], flipped);
        return Op("Conv", [g, weight], Ints("kernel_shape", kernel), Ints("dilations", dilations), Ints("pads", pads), Int("group", group));
    }

    /// <summary>Inference BatchNormalization is per-channel affine: dx = g · scale / √(var + ε).</summary>
    private void BatchNormGrad(NodeProto n, string g)
    {
        if (AttrInt(n, "training_mode", 0) != 0) throw new NotSupportedException($"BatchNormalization node '{n.Name}' in training mode");
        int rank = ShapeOf(n.Input[0]).Length;
        float eps = AttrFloat(n, "epsilon", 1e-5f);
        string factor = Op("Div", [n.Input[1], Op("Sqrt", [Op("Add", [n.Input[4], Scalar(eps)])])]);
        string shaped = Op("Reshape", [factor, I64([-1, .. Enumerable.Repeat(1L, rank - 2)])]);
        Accumulate(n.Input[0], Op("Mul", [g, shaped]));
    }

    /// <summary>
    /// Max pooling routes each output's gradient to its argmax: a second MaxPool (same attributes) gives the
    /// Indices output (flat indices into the whole input, row-major, storage_order 0), and ScatterElements with
    /// reduction "add" (opset 16) sums the contributions of overlapping windows. GlobalMaxPool = MaxPool over H×W.
    /// </summary>
    private void MaxPoolGrad(NodeProto n, string g, bool global)
    {
        string x = n.Input[0];
        var pool = new NodeProto { OpType = "MaxPool", Name = Fresh("n_MaxPoolIdx") };
        pool.Input.Add(x);
        string yy = Fresh("pool"), idx = Fresh("pool_idx");
        pool.Output.Add(yy); pool.Output.Add(idx);
        if (global) pool.Attribute.Add(Ints("kernel_shape", ShapeOf(x)[2..]));
        else pool.Attribute.AddRange(n.Attribute.Where(a => a.Name != "storage_order").Select(a => a.Clone()));
        pool.Attribute.Add(Int("storage_order", 0));
        _emitted.Add(pool);
        string flatZeros = Op("Reshape", [ZerosLike(x), I64(-1)]);
        string scattered = Op("ScatterElements", [flatZeros, Op("Reshape", [idx, I64(-1)]), Op("Reshape", [g, I64(-1)])],
            Int("axis", 0), Str("reduction", "add"));
        Accumulate(x, ReshapeLike(scattered, x));
    }

    /// <summary>
    /// AveragePool: y[o] = Σ_window x / count(o). The gradient divides by the same per-position count (computed here
    /// statically as ONNX Runtime does: count_include_pad=1 counts positions inside the padded extent, 0 only real
    /// ones) and spreads it back with a depthwise ConvTranspose whose kernel is all ones.
    /// </summary>
    private void AveragePoolGrad(NodeProto n, string g)
    {
        string x = n.Input[0], y = n.Output[0];
        long[] xs = ShapeOf(x), ys = ShapeOf(y);
        long[] kernel = AttrInts(n, "kernel_shape") ?? throw new NotSupportedException($"AveragePool '{n.Name}' has no kernel_shape");
        int k = kernel.Length;
        long[] strides = AttrInts(n, "strides") ?? Enumerable.Repeat(1L, k).ToArray();
        long[] dilations = AttrInts(n, "dilations") ?? Enumerable.Repeat(1L, k).ToArray();
        var (pb, pe) = ResolvePads(n, xs[2..], ys[2..], kernel, strides, dilations);
        bool includePad = AttrInt(n, "count_include_pad", 0) != 0;
        // Per-axis counts; the window count is their product.
        var perAxis = new double[k][];
        for (int a = 0; a < k; a++)
        {
            long h = xs[2 + a];
            perAxis[a] = new double[ys[2 + a]];
            for (long o = 0; o < ys[2 + a]; o++)
            {
                long c = 0;
                for (long j = 0; j < kernel[a]; j++)
                {
                    long p = o * strides[a] - pb[a] + j * dilations[a];
                    if (includePad ? p >= -pb[a] && p < h + pe[a] : p >= 0 && p < h) c++;
                }
                perAxis[a][o] = c;
            }
        }
        long total = ys[2..].Aggregate(1L, (s, d) => s * d);
        var counts = new double[total];
        for (long i = 0; i < total; i++)
        {
            long rem = i;
            double c = 1;
            for (int a = k - 1; a >= 0; a--) { c *= perAxis[a][rem % ys[2 + a]]; rem /= ys[2 + a]; }
            counts[i] = c;
        }
        string divided = Op("Div", [g, Real([1, 1, .. ys[2..]], counts)]);
        long channels = xs[1];
        long kernelSize = kernel.Aggregate(1L, (s, d) => s * d);
        string ones = Real([channels, 1, .. kernel], Enumerable.Repeat(1.0, (int)(channels * kernelSize)).ToArray());
        Accumulate(x, TransposedWindow(n, divided, ones, kernel, channels, x, y));
    }

    private void ReduceGrad(NodeProto n, string g, bool mean)
    {
        string x = n.Input[0];
        long[] xs = ShapeOf(x);
        int rank = xs.Length;
        long[]? axes = AttrInts(n, "axes");
        if (axes == null && HasInput(n, 1)) axes = ConstInts(n, 1, "axes");
        if (axes == null || axes.Length == 0)
        {
            if (AttrInt(n, "noop_with_empty_axes", 0) != 0) { Accumulate(x, g); return; }
            axes = Enumerable.Range(0, rank).Select(i => (long)i).ToArray();
        }
        axes = axes.Select(a => a < 0 ? a + rank : a).Order().ToArray();
        if (axes.Contains(0)) throw new NotSupportedException($"{n.OpType} node '{n.Name}' reduces over the batch axis");
        string gk = AttrInt(n, "keepdims", 1) != 0 ? g : Op("Unsqueeze", [g, I64(axes)]);
        if (mean) gk = Op("Div", [gk, Scalar(axes.Aggregate(1L, (s, a) => s * xs[a]))]);
        Accumulate(x, Op("Expand", [gk, Op("Shape", [x])]));
    }

    private void ConcatGrad(NodeProto n, string g, int[] need)
    {
        int rank = ShapeOf(n.Output[0]).Length;
        long axis = AttrInt(n, "axis", 0);
        if (axis < 0) axis += rank;
        if (axis == 0) throw new NotSupportedException($"Concat node '{n.Name}' along the batch axis");
        long offset = 0;
        for (int i = 0; i < n.Input.Count; i++)
        {
            long len = ShapeOf(n.Input[i])[axis];
            if (need.Contains(i)) Accumulate(n.Input[i], Op("Slice", [g, I64(offset), I64(offset + len), I64(axis)]));
            offset += len;
        }
    }

    private void SplitGrad(NodeProto n, string?[] g)
    {
        int rank = ShapeOf(n.Input[0]).Length;
        long axis = AttrInt(n, "axis", 0);
        if (axis < 0) axis += rank;
        if (axis == 0) throw new NotSupportedException($"Split node '{n.Name}' along the batch axis");
        var parts = new string[n.Output.Count];
        for (int i = 0; i < parts.Length; i++) parts[i] = g[i] ?? ZerosLike(n.Output[i]);
        Accumulate(n.Input[0], Op("Concat", parts, Int("axis", axis)));
    }

    /// <summary>Slice with step 1: the gradient is the output gradient zero-padded back to the input extent.</summary>
    private void SliceGrad(NodeProto n, string g)
    {
        long[] xs = ShapeOf(n.Input[0]);
        int rank = xs.Length;
        long[] starts = ConstInts(n, 1, "starts"), ends = ConstInts(n, 2, "ends");
        long[] axes = HasInput(n, 3) ? ConstInts(n, 3, "axes") : Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
        long[] steps = HasInput(n, 4) ? ConstInts(n, 4, "steps") : Enumerable.Repeat(1L, starts.Length).ToArray();
        var pads = new long[2 * rank];
        for (int i = 0; i < starts.Length; i++)
        {
            int a = (int)(axes[i] < 0 ? axes[i] + rank : axes[i]);
            if (steps[i] != 1) throw new NotSupportedException($"Slice node '{n.Name}' with step {steps[i]}");
            long dim = xs[a];
            long s = Math.Clamp(starts[i] < 0 ? starts[i] + dim : starts[i], 0, dim);
            long e = Math.Clamp(ends[i] < 0 ? ends[i] + dim : ends[i], 0, dim);
            if (a == 0 && (s != 0 || e != dim)) throw new NotSupportedException($"Slice node '{n.Name}' slices the batch axis");
            if (a == 0) continue;
            if (e < s) throw new NotSupportedException($"Slice node '{n.Name}' is empty");
            pads[a] += s;
            pads[rank + a] += dim - e;
        }
        Accumulate(n.Input[0], Op("Pad", [g, I64(pads)]));
    }

    /// <summary>Constant-mode Pad with non-negative pads: the gradient is the inner Slice of the output gradient.</summary>
    private void PadGrad(NodeProto n, string g)
    {
        string mode = AttrString(n, "mode", "constant");
        if (mode != "constant") throw new NotSupportedException($"Pad node '{n.Name}' with mode '{mode}'");
        if (HasInput(n, 3)) throw new NotSupportedException($"Pad node '{n.Name}' with axes");
        if (HasInput(n, 2) && _relevant.Contains(n.Input[2])) throw new NotSupportedException($"Pad node '{n.Name}': gradient of the pad value");
        long[] pads = ConstInts(n, 1, "pads");
        int rank = pads.Length / 2;
        if (pads.Any(p => p < 0)) throw new NotSupportedException($"Pad node '{n.Name}' with negative pads (cropping)");
        long[] starts = pads[..rank];
        long[] ends = Enumerable.Range(0, rank).Select(i => pads[rank + i] > 0 ? -pads[rank + i] : long.MaxValue).ToArray();
        Accumulate(n.Input[0], Op("Slice", [g, I64(starts), I64(ends), I64(Enumerable.Range(0, rank).Select(i => (long)i).ToArray())]));
    }

    /// <summary>Y = α·A'·B' + β·C with A' = transA ? Aᵀ : A (same for B).</summary>
    private void GemmGrad(NodeProto n, string g, int[] need)
    {
        float alpha = AttrFloat(n, "alpha", 1f), beta = AttrFloat(n, "beta", 1f);
        long ta = AttrInt(n, "transA", 0), tb = AttrInt(n, "transB", 0);
        string a = n.Input[0], bm = n.Input[1];
        if (need.Contains(0))
            // dA' = α·g·B'ᵀ; dA = dA'ᵀ = α·B'·gᵀ when transA.
            Accumulate(a, ta == 0
                ? Op("Gemm", [g, bm], Float("alpha", alpha), Int("transA", 0), Int("transB", tb == 0 ? 1 : 0))
                : Op("Gemm", [bm, g], Float("alpha", alpha), Int("transA", tb), Int("transB", 1)));
        if (need.Contains(1))
            // dB' = α·A'ᵀ·g; dB = α·gᵀ·A' when transB.
            Accumulate(bm, tb == 0
                ? Op("Gemm", [a, g], Float("alpha", alpha), Int("transA", ta == 0 ? 1 : 0), Int("transB", 0))
                : Op("Gemm", [g, a], Float("alpha", alpha), Int("transA", 1), Int("transB", ta)));
        if (need.Contains(2))
            Accumulate(n.Input[2], ReduceTo(Op("Mul", [g, Scalar(beta)]), n.Output[0], n.Input[2]));
    }

    private void MatMulGrad(NodeProto n, string g, int[] need)
    {
        string a = n.Input[0], bm = n.Input[1];
        int ra = ShapeOf(a).Length, rb = ShapeOf(bm).Length;
        if (ra < 2 || rb < 2) throw new NotSupportedException($"MatMul node '{n.Name}' with a 1-D operand");
        string T(string t, int rank) => Op("Transpose", [t], Ints("perm", [.. Enumerable.Range(0, rank - 2).Select(i => (long)i), rank - 1, rank - 2]));
        if (need.Contains(0)) Accumulate(a, ReduceTo(Op("MatMul", [g, T(bm, rb)]), n.Output[0], a));
        if (need.Contains(1)) Accumulate(bm, ReduceTo(Op("MatMul", [T(a, ra), g]), n.Output[0], bm));
    }

    /// <summary>Σ over a channel window [c − lo, c + hi] (zero outside), via Pad + shifted Slices along axis 1.</summary>
    private string ChannelWindowSum(string t, long channels, long size, long lo, long hi, int rank)
    {
        var pads = new long[2 * rank];
        pads[1] = lo; pads[rank + 1] = hi;
        string padded = Op("Pad", [t, I64(pads)]);
        string? sum = null;
        for (long k = 0; k < size; k++)
        {
            string s = Op("Slice", [padded, I64(k), I64(k + channels), I64(1)]);
            sum = sum == null ? s : Op("Add", [sum, s]);
        }
        return sum!;
    }

    /// <summary>
    /// LRN: y = x·s^(−β), s = bias + α/size·Σ_{window(c)} x², window(c) = [c − ⌊(size−1)/2⌋, c + ⌈(size−1)/2⌉].
    /// dx_j = g_j·s_j^(−β) − (2αβ/size)·x_j·Σ_{i: j ∈ window(i)} g_i·x_i·s_i^(−β−1).
    /// </summary>
    private void LrnGrad(NodeProto n, string g)
    {
        string x = n.Input[0];
        long[] xs = ShapeOf(x);
        int rank = xs.Length;
        float alpha = AttrFloat(n, "alpha", 1e-4f), beta = AttrFloat(n, "beta", 0.75f), bias = AttrFloat(n, "bias", 1f);
        long size = AttrInt(n, "size", 1);
        long lo = (size - 1) / 2, hi = size - 1 - lo;
        string sq = ChannelWindowSum(Op("Mul", [x, x]), xs[1], size, lo, hi, rank);
        string s = Op("Add", [Scalar(bias), Op("Mul", [sq, Scalar(alpha / size)])]);
        string direct = Op("Mul", [g, Op("Pow", [s, Scalar(-beta)])]);
        string inner = Op("Mul", [Op("Mul", [g, x]), Op("Pow", [s, Scalar(-beta - 1)])]);
        string back = ChannelWindowSum(inner, xs[1], size, hi, lo, rank);
        string cross = Op("Mul", [Op("Mul", [x, back]), Scalar(-2.0 * alpha * beta / size)]);
        Accumulate(x, Op("Add", [direct, cross]));
    }

    /// <summary>
    /// Gather on data: the gradient scatter-adds each gathered slice back to its index (repeated indices sum):
    /// move `axis` to the front, flatten the rest, ScatterND with reduction "add", and undo the moves.
    /// </summary>
    private void GatherGrad(NodeProto n, string g)
    {
        string data = n.Input[0], indices = n.Input[1];
        long[] ds = ShapeOf(data);
        int r = ds.Length;
        long axis = AttrInt(n, "axis", 0);
        if (axis < 0) axis += r;
        int q = ShapeOf(indices).Length;
        if (axis == 0) throw new NotSupportedException($"Gather node '{n.Name}' along the batch axis");
        // Output dims: data[:axis] + indices + data[axis+1:]. Bring the indices dims to the front.
        var permOut = Enumerable.Range((int)axis, q).Concat(Enumerable.Range(0, (int)axis)).Concat(Enumerable.Range((int)axis + q, r - 1 - (int)axis))
            .Select(i => (long)i).ToArray();
        string gFront = permOut.Length > 0 ? Op("Transpose", [g], Ints("perm", permOut)) : g;
        string upd = Op("Flatten", [gFront], Int("axis", q));
        var permData = new[] { axis }.Concat(Enumerable.Range(0, r).Where(i => i != axis).Select(i => (long)i)).ToArray();
        string dataFront = Op("Transpose", [data], Ints("perm", permData));
        string zeros = Op("Flatten", [ZerosLike(dataFront)], Int("axis", 1));
        string idx = Op("Cast", [indices], Int("to", OnnxTensors.Int64));
        idx = Op("Where", [Op("Less", [idx, I64(0)]), Op("Add", [idx, I64(ds[axis])]), idx]);
        idx = Op("Reshape", [idx, I64(-1, 1)]);
        string scattered = Op("ScatterND", [zeros, idx, upd], Str("reduction", "add"));
        string back = Op("Reshape", [scattered, Op("Shape", [dataFront])]);
        var inv = new long[r];
        for (int i = 0; i < r; i++) inv[permData[i]] = i;
        Accumulate(data, Op("Transpose", [back], Ints("perm", inv)));
    }
}
