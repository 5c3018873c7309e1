using Onnx;

namespace VacCnn.Models.Onnx;

/// <summary>
/// Folds constant subgraphs into float initializers, in memory. Most shared models keep int8/uint8 weights behind
/// <c>DequantizeLinear(initializer, scale, zero point)</c>; ONNX Runtime then de-quantizes every weight on every run
/// (and cannot pre-pack the weights for its Conv kernels). Folding does that work once at load time.
/// </summary>
internal static class ConstantFolder
{
    /// <summary>What was folded.</summary>
    /// <param name="DequantizeLinear">DequantizeLinear nodes folded.</param>
    /// <param name="Identity">Identity nodes folded.</param>
    /// <param name="RemovedInitializers">Initializers dropped because nothing reads them any more.</param>
    /// <param name="KeptQdq">True when the graph quantizes activations (full QDQ) and weight DequantizeLinear nodes
    /// were deliberately kept.</param>
    public sealed record Result(int DequantizeLinear, int Identity, int RemovedInitializers, bool KeptQdq);

    /// <summary>Rewrites <paramref name="graph"/> in place. Nodes are in topological order (ONNX requires it), so one
    /// forward pass also folds chains such as Identity → DequantizeLinear.</summary>
    public static Result Fold(GraphProto graph)
    {
        var initializers = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (var t in graph.Initializer) initializers[t.Name] = t;
        // Never turn a graph output into an initializer, and never shadow a graph input.
        var protectedNames = new HashSet<string>(graph.Output.Select(o => o.Name), StringComparer.Ordinal);
        foreach (var i in graph.Input) if (!initializers.ContainsKey(i.Name)) protectedNames.Add(i.Name);

        // A graph with QuantizeLinear quantizes its activations too ("full QDQ", e.g. mobilenetv2-7-quant): ONNX Runtime
        // fuses DQ → Conv → Q groups into integer kernels (QLinearConv) and needs the weight DequantizeLinear for that.
        // With folded float weights it re-quantizes them itself (WeightBiasQuantization), which on opset 10 even
        // produces an invalid graph (a Round node, opset ≥ 11). So only weight-only QDQ graphs get their DQs folded.
        bool fullQdq = graph.Node.Any(n => n.OpType == "QuantizeLinear" && IsDefaultDomain(n));
        int dq = 0, id = 0;
        var kept = new List<NodeProto>(graph.Node.Count);
        foreach (var node in graph.Node)
        {
            TensorProto? folded = null;
            if (node.Output.Count == 1 && !protectedNames.Contains(node.Output[0]) && IsDefaultDomain(node))
            {
                if (node.OpType == "DequantizeLinear" && !fullQdq) { folded = TryFoldDequantize(node, initializers); if (folded != null) dq++; }
                else if (node.OpType == "Identity" && node.Input.Count == 1 && initializers.TryGetValue(node.Input[0], out var src))
                {
                    folded = src.Clone();
                    folded.Name = node.Output[0];
                    id++;
                }
            }
            if (folded == null) { kept.Add(node); continue; }
            initializers[folded.Name] = folded;
            graph.Initializer.Add(folded);
        }
        if (dq + id == 0) return new Result(0, 0, 0, fullQdq);

        graph.Node.Clear();
        graph.Node.AddRange(kept);

        // Drop initializers nothing reads any more (the int8 weights, scales, zero points), including references
        // from subgraphs (If/Loop bodies may read outer-scope initializers).
        var used = new HashSet<string>(StringComparer.Ordinal);
        CollectInputs(graph, used);
        foreach (var o in graph.Output) used.Add(o.Name);
        var unused = graph.Initializer.Where(t => !used.Contains(t.Name)).ToList();
        foreach (var t in unused) graph.Initializer.Remove(t);
        var unusedNames = unused.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        // Old IR versions list initializers among the inputs too; remove those entries as well.
        foreach (var input in graph.Input.Where(i => unusedNames.Contains(i.Name)).ToList()) graph.Input.Remove(input);
        return new Result(dq, id, unused.Count, fullQdq);
    }

    private static bool IsDefaultDomain(NodeProto n) => string.IsNullOrEmpty(n.Domain) || n.Domain == "ai.onnx";

    private static void CollectInputs(GraphProto graph, HashSet<string> used)
    {
        foreach (var node in graph.Node)
        {
            foreach (var i in node.Input) if (i.Length > 0) used.Add(i);
            foreach (var a in node.Attribute)
            {
                if (a.G != null) CollectInputs(a.G, used);
                foreach (var g in a.Graphs) CollectInputs(g, used);
            }
        }
    }

    /// <summary>y = (x − zero_point) × scale, per tensor or per channel along <c>axis</c> (default 1, opset ≥ 13);
    /// null when an input is not an initializer or the form is not one we fold (e.g. blocked quantization).</summary>
    private static TensorProto? TryFoldDequantize(NodeProto node, Dictionary<string, TensorProto> inits)
    {
        if (node.Input.Count < 2) return null;
        if (!inits.TryGetValue(node.Input[0], out var x) || !inits.TryGetValue(node.Input[1], out var scale)) return null;
        TensorProto? zp = null;
        if (node.Input.Count > 2 && node.Input[2].Length > 0 && !inits.TryGetValue(node.Input[2], out zp)) return null;
        if (!OnnxTensors.IsQuantizedInt(x.DataType) || scale.DataType != OnnxTensors.Float) return null;
        if (zp != null && zp.DataType != x.DataType) return null;
        if (node.Attribute.Any(a => a.Name == "block_size" && a.I != 0)) return null;
        if (OnnxTensors.IsExternal(x)) return null;

        double[] xv = OnnxTensors.ReadAsDoubles(x);
        double[] sv = OnnxTensors.ReadAsDoubles(scale);
        double[]? zv = zp == null ? null : OnnxTensors.ReadAsDoubles(zp);
        if (zv != null && zv.Length != sv.Length) return null;

        var y = new float[xv.Length];
        if (sv.Length == 1)
        {
            float s = (float)sv[0];
            double z = zv?[0] ?? 0;
            // Same arithmetic as ONNX Runtime: float(x − zp) × scale in float32.
            for (int i = 0; i < y.Length; i++) y[i] = (float)(xv[i] - z) * s;
        }
        else
        {
            int rank = x.Dims.Count;
            long axisAttr = node.Attribute.FirstOrDefault(a => a.Name == "axis")?.I ?? 1;
            int axis = (int)(axisAttr < 0 ? axisAttr + rank : axisAttr);
            if (axis < 0 || axis >= rank || x.Dims[axis] != sv.Length) return null;
            long inner = 1;
            for (int d = axis + 1; d < rank; d++) inner *= x.Dims[d];
            int channels = sv.Length;
            for (int i = 0; i < y.Length; i++)
            {
                int c = (int)(i / inner % channels);
                y[i] = (float)(xv[i] - (zv?[c] ?? 0)) * (float)sv[c];
            }
        }
        return OnnxTensors.FloatTensor(node.Output[0], x.Dims, y);
    }
}
