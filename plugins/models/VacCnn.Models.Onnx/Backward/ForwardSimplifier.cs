using Onnx;
using static VacCnn.Models.Onnx.Backward.OnnxBuild;

namespace VacCnn.Models.Onnx.Backward;

/// <summary>
/// Meaning-preserving rewrites of the forward graph before it is differentiated, for converted (TFLite-style) models:
/// Transpose pairs that undo each other are removed, a zero <c>Pad</c> in front of a <c>Conv</c> becomes the Conv's
/// own padding, and a per-channel <c>Mul</c>/<c>Add</c> by constants after a Conv (batch norm folded into scale and
/// shift) is folded into its weights and bias. ONNX
/// Runtime makes the same fusions in the forward pass, but their gradients would stay separate nodes (a Slice per Pad,
/// a Mul per scale, each with a layout conversion around it): on hardnet39ds that was 111 extra backward nodes.
/// Tensors that must stay observable (the target layer, the image input, graph outputs) are never folded away.
/// </summary>
internal static class ForwardSimplifier
{
    public static void Simplify(ModelProto model, ISet<string> keep)
    {
        var g = model.Graph;
        var constants = Constants(g);
        var outputs = g.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        int counter = 0;
        bool changed = true;
        while (changed)
        {
            changed = false;
            var readers = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
            foreach (var n in g.Node)
                foreach (var i in n.Input)
                    if (i.Length > 0) (readers.TryGetValue(i, out var l) ? l : readers[i] = []).Add(n);
            bool Removable(string tensor) => !keep.Contains(tensor) && !outputs.Contains(tensor);
            List<NodeProto> ReadersOf(string tensor) => readers.TryGetValue(tensor, out var l) ? l : [];

            foreach (var n in g.Node.ToList())
            {
                if (!IsDefaultDomain(n)) continue;
                if (n.OpType == "Transpose" && ReadersOf(n.Output[0]) is [{ OpType: "Transpose" } second] && Removable(n.Output[0])
                    && Removable(second.Output[0]) && IsDefaultDomain(second) && CancelOut(AttrInts(n, "perm"), AttrInts(second, "perm")))
                {
                    // Transpose pairs that undo each other (TFLite converters wrap every op in NHWC ↔ NCHW pairs).
                    foreach (var r in ReadersOf(second.Output[0]))
                        for (int i = 0; i < r.Input.Count; i++)
                            if (r.Input[i] == second.Output[0]) r.Input[i] = n.Input[0];
                    g.Node.Remove(n);
                    g.Node.Remove(second);
                    changed = true;
                    break;
                }
                if (n.OpType == "Pad" && FoldPad(n, ReadersOf(n.Output[0]), constants, Removable(n.Output[0])))
                {
                    g.Node.Remove(n);
                    changed = true;
                    break;
                }
                if (n.OpType == "Conv" && ReadersOf(n.Output[0]) is [{ OpType: "Mul" or "Add" } next] && Removable(n.Output[0])
                    && FoldChannelAffine(n, next, constants, g, ref counter))
                {
                    n.Output[0] = next.Output[0];
                    g.Node.Remove(next);
                    changed = true;
                    break;
                }
            }
        }
    }

    // True when transposing by p1 then by p2 is the identity (both perms given: a default perm reverses the axes,
    // whose rank is not known here).
    private static bool CancelOut(long[]? p1, long[]? p2) =>
        p1 != null && p2 != null && p1.Length == p2.Length && Enumerable.Range(0, p2.Length).All(i => p2[i] >= 0 && p2[i] < p1.Length && p1[p2[i]] == i);

    /// <summary>Pad (constant 0, spatial axes only, constant pads) read only by Convs without auto_pad: into their pads.</summary>
    private static bool FoldPad(NodeProto pad, List<NodeProto> readers, Dictionary<string, TensorProto> constants, bool removable)
    {
        if (!removable || readers.Count == 0 || AttrString(pad, "mode", "constant") != "constant") return false;
        if (pad.Input.Count < 2 || !constants.TryGetValue(pad.Input[1], out var padsProto)) return false;
        if (pad.Input.Count > 2 && pad.Input[2].Length > 0
            && (!constants.TryGetValue(pad.Input[2], out var value) || OnnxTensors.ReadAsDoubles(value).Any(v => v != 0))) return false;
        if (pad.Input.Count > 3 && pad.Input[3].Length > 0) return false; // axes: not worth the cases
        long[] pads = OnnxTensors.ReadAsDoubles(padsProto).Select(v => (long)v).ToArray();
        if (pads.Length != 8 || pads.Any(p => p < 0) || pads[0] != 0 || pads[1] != 0 || pads[4] != 0 || pads[5] != 0) return false;
        foreach (var c in readers)
            if (c.OpType != "Conv" || !IsDefaultDomain(c) || c.Input[0] != pad.Output[0] || c.Input.Skip(1).Contains(pad.Output[0])
                || AttrString(c, "auto_pad", "NOTSET") != "NOTSET") return false;
        foreach (var c in readers)
        {
            long[] old = AttrInts(c, "pads") ?? new long[4];
            long[] merged = [old[0] + pads[2], old[1] + pads[3], old[2] + pads[6], old[3] + pads[7]];
            var existing = c.Attribute.FirstOrDefault(a => a.Name == "pads");
            if (existing != null) c.Attribute.Remove(existing);
            c.Attribute.Add(Ints("pads", merged));
            c.Input[0] = pad.Input[0];
        }
        return true;
    }

    /// <summary>
    /// Conv followed by Mul or Add with a constant per-output-channel vector (shape [M,1,1], [1,M,1,1], [1] or a
    /// scalar): Mul scales each output channel's weights and bias, Add shifts the bias. New initializers are written
    /// (the originals may be shared).
    /// </summary>
    private static bool FoldChannelAffine(NodeProto conv, NodeProto op, Dictionary<string, TensorProto> constants, GraphProto g, ref int counter)
    {
        if (!IsDefaultDomain(op) || op.Input.Count != 2) return false;
        string other = op.Input[0] == conv.Output[0] ? op.Input[1] : op.Input[0];
        if (other == conv.Output[0] || !constants.TryGetValue(other, out var vectorProto)) return false;
        if (!constants.TryGetValue(conv.Input[1], out var weightProto) || weightProto.Dims.Count != 4) return false;
        long m = weightProto.Dims[0];
        long[] vdims = vectorProto.Dims.ToArray();
        bool perChannel = vdims.Length switch
        {
            0 => true,
            1 => vdims[0] == 1,
            3 => vdims[0] == m && vdims[1] == 1 && vdims[2] == 1 || vdims.All(d => d == 1),
            4 => vdims[0] == 1 && (vdims[1] == m || vdims[1] == 1) && vdims[2] == 1 && vdims[3] == 1,
            _ => false,
        };
        if (!perChannel || vectorProto.DataType != weightProto.DataType) return false;
        TensorProto? biasProto = null;
        if (conv.Input.Count > 2 && conv.Input[2].Length > 0 && !constants.TryGetValue(conv.Input[2], out biasProto)) return false;

        var v = OnnxTensors.ReadAsDoubles(vectorProto);
        double At(long c) => v.Length == 1 ? v[0] : v[c];
        var bias = biasProto != null ? OnnxTensors.ReadAsDoubles(biasProto) : new double[m];
        int type = weightProto.DataType;
        if (op.OpType == "Mul")
        {
            var w = OnnxTensors.ReadAsDoubles(weightProto);
            long per = w.Length / m;
            for (long c = 0; c < m; c++)
            {
                for (long i = 0; i < per; i++) w[c * per + i] *= At(c);
                bias[c] *= At(c);
            }
            var newWeight = Real($"vacgrad_fold/w{counter++}", type, weightProto.Dims.ToArray(), w);
            g.Initializer.Add(newWeight);
            constants[newWeight.Name] = newWeight;
            conv.Input[1] = newWeight.Name;
        }
        else
        {
            for (long c = 0; c < m; c++) bias[c] += At(c);
        }
        if (op.OpType == "Mul" && biasProto == null) return true; // no bias to scale
        var newBias = Real($"vacgrad_fold/b{counter++}", type, [m], bias);
        g.Initializer.Add(newBias);
        constants[newBias.Name] = newBias;
        if (conv.Input.Count > 2) conv.Input[2] = newBias.Name;
        else conv.Input.Add(newBias.Name);
        return true;
    }
}
