using Onnx;

namespace VacCnn.Models.Onnx;

/// <summary>Parameter and multiply-accumulate counts computed from the ONNX graph itself.</summary>
internal static class GraphStatistics
{
    // Ops whose inputs after the first are settings (bounds, shapes, pads, indices), not learned weights.
    private static readonly HashSet<string> SettingInputOps = new(StringComparer.Ordinal)
    {
        "Clip", "Pad", "Reshape", "Slice", "Resize", "Upsample", "Expand", "Tile", "Squeeze", "Unsqueeze", "Split",
        "TopK", "ConstantOfShape", "Gather", "ReduceMean", "ReduceSum", "QuantizeLinear", "DequantizeLinear",
    };

    /// <summary>
    /// Learned parameters = total element count of the weight initializers. The rule:
    /// <list type="bullet">
    /// <item>int64 tensors are shape/index constants (Reshape shapes, Slice starts) → not counted;</item>
    /// <item>rank-0 tensors are scalar constants (Clip bounds, the 2 in 2x−1) → not counted;</item>
    /// <item>a tensor read only as input 1+ of a setting-like op (the scale and zero point of DequantizeLinear /
    /// QuantizeLinear, Clip bounds, pad values) → not counted;</item>
    /// <item>everything else is counted once per node reading it as a weight: float weights and biases, and quantized weights at input
    /// 0 of DequantizeLinear (their de-quantized float copy is a node output, not an initializer, so each quantized
    /// weight counts once). After constant folding the de-quantized weights are float initializers and the int8
    /// tensors/scales are gone, so folded and unfolded graphs give the same count.</item>
    /// </list>
    /// A tensor read by several nodes counts once per node because exporters de-duplicate identical initializers
    /// (torch.onnx shares e.g. the all-zero biases of freshly initialised layers), which are separate parameters in
    /// the model. Weights stored in Constant nodes are not counted (exporters used here write initializers).
    /// </summary>
    public static long CountParameters(GraphProto graph)
    {
        var uses = new Dictionary<string, List<(NodeProto Node, int Index)>>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
            for (int i = 0; i < node.Input.Count; i++)
            {
                if (node.Input[i].Length == 0) continue;
                if (!uses.TryGetValue(node.Input[i], out var list)) uses[node.Input[i]] = list = [];
                list.Add((node, i));
            }

        long total = 0;
        foreach (var t in graph.Initializer)
        {
            if (t.DataType is OnnxTensors.Int64 || t.Dims.Count == 0) continue;
            if (!(t.DataType is OnnxTensors.Float or OnnxTensors.Float16 or OnnxTensors.BFloat16 or OnnxTensors.Double
                  || OnnxTensors.IsQuantizedInt(t.DataType))) continue;
            if (!uses.TryGetValue(t.Name, out var consumers)) continue;
            int weightUses = consumers.Where(c => !(c.Index >= 1 && SettingInputOps.Contains(c.Node.OpType)))
                .Select(c => c.Node).Distinct().Count();
            total += weightUses * OnnxTensors.ElementCount(t);
        }
        return total;
    }

    /// <summary>Tensors whose batch-1 shapes <see cref="CountMacs"/> needs: outputs of Conv/Gemm/MatMul and their
    /// first two inputs. Initializers are known statically; the caller measures the rest.</summary>
    public static IEnumerable<string> ShapeQueries(GraphProto graph)
    {
        var known = new HashSet<string>(graph.Initializer.Select(t => t.Name), StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Node.Where(n => n.OpType is "Conv" or "Gemm" or "MatMul"))
            foreach (string name in node.Input.Take(2).Concat(node.Output.Take(1)))
                if (name.Length > 0 && !known.Contains(name) && seen.Add(name))
                    yield return name;
    }

    /// <summary>
    /// Multiply-accumulates for one image. Conv: every output element costs (Cin/groups)·kH·kW MACs, i.e.
    /// Cout·H_out·W_out·(Cin/groups)·kH·kW = numel(Y)·numel(W)/Cout. Gemm and MatMul: numel(Y)·K. Bias additions and
    /// element-wise ops are not counted (the usual convention for published MAC figures).
    /// </summary>
    /// <param name="graph">The graph.</param>
    /// <param name="measured">Batch-1 shapes of the tensors listed by <see cref="ShapeQueries"/>.</param>
    public static long CountMacs(GraphProto graph, IReadOnlyDictionary<string, long[]> measured)
    {
        var initShapes = graph.Initializer.ToDictionary(t => t.Name, t => t.Dims.ToArray(), StringComparer.Ordinal);
        long[] Shape(string name) =>
            initShapes.TryGetValue(name, out var s) ? s
            : measured.TryGetValue(name, out s) ? s
            : throw new InvalidOperationException($"shape of tensor '{name}' is unknown");
        static long Numel(long[] s) => s.Aggregate(1L, (a, d) => a * d);

        long macs = 0;
        foreach (var node in graph.Node)
        {
            switch (node.OpType)
            {
                case "Conv":
                {
                    long[] w = Shape(node.Input[1]);
                    macs += Numel(Shape(node.Output[0])) * (Numel(w) / w[0]);
                    break;
                }
                case "Gemm":
                {
                    long[] a = Shape(node.Input[0]);
                    bool transA = node.Attribute.FirstOrDefault(x => x.Name == "transA")?.I == 1;
                    long k = transA ? a[0] : a[^1];
                    macs += Numel(Shape(node.Output[0])) * k;
                    break;
                }
                case "MatMul":
                {
                    long[] a = Shape(node.Input[0]);
                    // A 1-D A is a row vector [K]; otherwise K is A's last dimension.
                    macs += Numel(Shape(node.Output[0])) * a[^1];
                    break;
                }
            }
        }
        return macs;
    }
}
