using Onnx;
using static VacCnn.Models.Onnx.Backward.OnnxBuild;

namespace VacCnn.Models.Onnx.Backward;

/// <summary>
/// Raises the default-domain opset of a model to <see cref="Target"/> while keeping the meaning of every node.
/// Why: the MaxPool gradient needs ScatterElements with reduction="add" (opset 16). Between opset 13 and 17 no
/// CNN operator changed meaning (changes: new types, Reshape allowzero default 0, BatchNormalization training_mode
/// default 0, Shape start/end defaults = whole shape); RoiAlign's default coordinate mode did change (16), so it is
/// refused. Models older than 13 (mobilenetv2-7-quant is opset 10, ML.NET's ResNet18.onnx opset 8) get the
/// attribute→input moves of opset 11–13 for the operators that have them, and lose BatchNormalization's `spatial`.
/// </summary>
internal static class OpsetUpgrader
{
    public const long Target = 17;

    public static void Upgrade(ModelProto model)
    {
        long from = DefaultOpset(model);
        if (from > 21) throw new NotSupportedException($"opset {from} is newer than the gradient builder supports (≤ 21)");
        if (from < Target)
        {
            var graph = model.Graph;
            var nodes = graph.Node.ToList();
            var rewritten = new List<NodeProto>(nodes.Count);
            int k = 0;
            string Fresh(string hint) => $"vacgrad_up/{hint}/{k++}";
            foreach (var n in nodes)
            {
                if (!IsDefaultDomain(n)) { rewritten.Add(n); continue; }
                switch (n.OpType)
                {
                    case "RoiAlign" or "Upsample" or "Scatter":
                        throw new NotSupportedException($"cannot upgrade node '{n.Name}' ({n.OpType}) from opset {from} to {Target} without changing its meaning");
                    case "Resize" when from < 11:
                        throw new NotSupportedException($"cannot upgrade node '{n.Name}' (Resize) from opset {from}");
                    case "Unsqueeze" or "Squeeze" or "ReduceSum" when from < 13:
                        MoveIntsToInput(n, "axes", 1, Fresh, graph);
                        break;
                    case "Split" when from < 13:
                        MoveIntsToInput(n, "split", 1, Fresh, graph);
                        break;
                    case "Clip" when from < 11:
                    {
                        float min = AttrFloat(n, "min", float.MinValue), max = AttrFloat(n, "max", float.MaxValue);
                        RemoveAttr(n, "min"); RemoveAttr(n, "max");
                        string lo = Fresh("clip_min"), hi = Fresh("clip_max");
                        graph.Initializer.Add(Real(lo, OnnxTensors.Float, [], [min]));
                        graph.Initializer.Add(Real(hi, OnnxTensors.Float, [], [max]));
                        n.Input.Add(lo); n.Input.Add(hi);
                        break;
                    }
                    case "Pad" when from < 11:
                    {
                        long[] pads = AttrInts(n, "pads") ?? [];
                        float value = AttrFloat(n, "value", 0f);
                        RemoveAttr(n, "pads"); RemoveAttr(n, "value");
                        string p = Fresh("pads"), v = Fresh("pad_value");
                        graph.Initializer.Add(Int64s(p, [pads.Length], pads));
                        graph.Initializer.Add(Real(v, OnnxTensors.Float, [], [value]));
                        n.Input.Add(p); n.Input.Add(v);
                        break;
                    }
                    case "BatchNormalization" when from < 9:
                        // Opset 9 dropped `spatial`; only spatial = 1 (per-channel statistics, the default) kept its meaning.
                        if (AttrInt(n, "spatial", 1) != 1)
                            throw new NotSupportedException($"cannot upgrade node '{n.Name}' (BatchNormalization with spatial=0) from opset {from}");
                        RemoveAttr(n, "spatial");
                        break;
                    case "Dropout" when from < 12:
                        RemoveAttr(n, "ratio"); // inference: identity whatever the ratio
                        break;
                    case "Softmax" or "LogSoftmax" or "Hardmax" when from < 13:
                    {
                        // Before 13: the input is coerced to 2-D at `axis` (default 1) and normalised over the flattened tail.
                        long axis = AttrInt(n, "axis", 1);
                        RemoveAttr(n, "axis");
                        string x = n.Input[0], y = n.Output[0];
                        string flat = Fresh("sm_flat"), sm = Fresh("sm"), shape = Fresh("sm_shape");
                        rewritten.Add(NewNode("Flatten", [x], [flat], Int("axis", axis)));
                        n.Input[0] = flat; n.Output[0] = sm;
                        n.Attribute.Add(Int("axis", 1));
                        rewritten.Add(n);
                        rewritten.Add(NewNode("Shape", [x], [shape]));
                        rewritten.Add(NewNode("Reshape", [sm, shape], [y]));
                        continue;
                    }
                }
                rewritten.Add(n);
            }
            graph.Node.Clear();
            graph.Node.AddRange(rewritten);
        }
        else if (from > Target)
        {
            // Newer models keep their opset; the emitted nodes are valid in 17..21 as well.
            return;
        }
        foreach (var o in model.OpsetImport.Where(o => string.IsNullOrEmpty(o.Domain) || o.Domain == "ai.onnx")) o.Version = Target;
        if (model.IrVersion < 8) model.IrVersion = 8; // opset 17 needs IR ≥ 8
    }

    private static int _nodeCounter;

    private static NodeProto NewNode(string op, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = op, Name = $"vacgrad_up/{op}/{Interlocked.Increment(ref _nodeCounter)}" };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attributes);
        return n;
    }

    private static void RemoveAttr(NodeProto n, string name)
    {
        var a = Attr(n, name);
        if (a != null) n.Attribute.Remove(a);
    }

    /// <summary>Opset 13 moved `axes`/`split` from an attribute to an optional input at <paramref name="index"/>.</summary>
    private static void MoveIntsToInput(NodeProto n, string attr, int index, Func<string, string> fresh, GraphProto graph)
    {
        long[]? values = AttrInts(n, attr);
        if (values == null) return;
        RemoveAttr(n, attr);
        string name = fresh(attr);
        graph.Initializer.Add(Int64s(name, [values.Length], values));
        while (n.Input.Count < index) n.Input.Add("");
        if (n.Input.Count == index) n.Input.Add(name);
        else n.Input[index] = name;
    }
}
