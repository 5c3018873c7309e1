using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using VacCnn.Models.Onnx.Backward;
using static VacCnn.Models.Onnx.Backward.OnnxBuild;

namespace VacCnn.Models.Onnx.Tests.Backward;

/// <summary>
/// The network with its piecewise decisions frozen at one input x₀: every Relu, Clip and HardSigmoid becomes
/// y = S·z + (y₀ − S·z₀) with its local slope S at x₀ (1 or 0 for Relu/Clip, α or 0 for HardSigmoid), and every
/// MaxPool gathers the elements it picked at x₀. Around x₀ (no unit exactly at a kink) this is the same function
/// as the network, so it has the same gradient at x₀; but it has no kinks, so central differences of it converge
/// (ReLU networks become exactly linear, Mul-gated ones such as hard-swish/SE become polynomials) and ε can be large
/// enough that float32 rounding of the score no longer matters. Rewriting is done by the test (independent of the
/// backward rules: only the forward ops Mul, Add, Reshape and Gather are used).
/// </summary>
internal static class FrozenPattern
{
    private static readonly HashSet<string> Piecewise = ["Relu", "Clip", "HardSigmoid", "MaxPool"];

    /// <summary>The frozen copy of <paramref name="model"/> at input <paramref name="x0"/> (batch 1).</summary>
    public static ModelProto Freeze(ModelProto model, string inputName, float[] x0, long[] shape) =>
        Freeze(model, [(inputName, x0, shape)]);

    /// <summary>The frozen copy of <paramref name="model"/> at the given graph inputs (batch 1), e.g. image and cut layer.</summary>
    public static ModelProto Freeze(ModelProto model, IReadOnlyList<(string Name, float[] Data, long[] Shape)> inputs)
    {
        var m = model.Clone();
        var g = m.Graph;
        var nodes = g.Node.Where(n => Piecewise.Contains(n.OpType)).ToList();
        foreach (var n in g.Node.Where(n => n.OpType is "HardSwish" or "LeakyRelu" or "PRelu" or "GlobalMaxPool" or "QuantizeLinear"))
            throw new NotSupportedException($"FrozenPattern does not handle {n.OpType} (node '{n.Name}')");

        // One probe run: the input z and output y of every piecewise node, and MaxPool's choices.
        var probe = m.Clone();
        var fetch = new List<string>();
        foreach (var n in nodes)
        {
            fetch.Add(n.Input[0]);
            fetch.Add(n.Output[0]);
            if (n.OpType == "MaxPool")
            {
                var p = new NodeProto { OpType = "MaxPool", Name = n.Name + "/frozen_idx" };
                p.Input.Add(n.Input[0]);
                p.Output.Add(n.Output[0] + "/frozen_y");
                p.Output.Add(n.Output[0] + "/frozen_idx");
                p.Attribute.AddRange(n.Attribute.Where(a => a.Name != "storage_order").Select(a => a.Clone()));
                probe.Graph.Node.Add(p);
                fetch.Add(n.Output[0] + "/frozen_idx");
            }
        }
        var inputNames = inputs.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var distinct = fetch.Distinct(StringComparer.Ordinal).Where(f => !inputNames.Contains(f)).ToArray();
        if (distinct.Length == 0) return m; // nothing piecewise: the network is its own frozen copy
        var existing = probe.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var f in distinct.Where(f => !existing.Contains(f))) probe.Graph.Output.Add(new ValueInfoProto { Name = f });
        var values = new Dictionary<string, (long[] Shape, float[]? F, long[]? L)>(StringComparer.Ordinal);
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new InferenceSession(probe.ToByteArray(), options);
        var feeds = inputs.Select(i => OrtValue.CreateTensorValueFromMemory(i.Data, i.Shape)).ToList();
        try
        {
            using var run = new RunOptions();
            using var outs = session.Run(run, inputs.Select(i => i.Name).ToArray(), feeds, distinct);
            for (int i = 0; i < distinct.Length; i++)
            {
                var info = outs[i].GetTensorTypeAndShape();
                values[distinct[i]] = info.ElementDataType == TensorElementType.Int64
                    ? (info.Shape, null, outs[i].GetTensorDataAsSpan<long>().ToArray())
                    : (info.Shape, outs[i].GetTensorDataAsSpan<float>().ToArray(), null);
            }
        }
        finally { foreach (var f in feeds) f.Dispose(); }
        foreach (var i in inputs) values[i.Name] = (i.Shape, i.Data, null);

        int k = 0;
        foreach (var n in nodes)
        {
            int at = g.Node.IndexOf(n);
            g.Node.RemoveAt(at);
            string z = n.Input[0], y = n.Output[0];
            if (n.Output.Count > 1 && n.Output[1].Length > 0) throw new NotSupportedException($"MaxPool '{n.Name}' uses its Indices output");
            var added = new List<NodeProto>();
            if (n.OpType == "MaxPool")
            {
                var (yShape, _, _) = values[y];
                long[] idx = values[y + "/frozen_idx"].L!;
                string flat = $"frozen{k}/flat", idxName = $"frozen{k}/idx", picked = $"frozen{k}/picked";
                g.Initializer.Add(Int64s($"frozen{k}/minus1", [1], [-1]));
                g.Initializer.Add(Int64s(idxName, [idx.Length], idx));
                g.Initializer.Add(Int64s($"frozen{k}/yshape", [yShape.Length], yShape));
                added.Add(NodeOf("Reshape", [z, $"frozen{k}/minus1"], [flat]));
                added.Add(NodeOf("Gather", [flat, idxName], [picked], Int("axis", 0)));
                added.Add(NodeOf("Reshape", [picked, $"frozen{k}/yshape"], [y]));
            }
            else
            {
                var (zShape, z0, _) = values[z];
                float[] y0 = values[y].F!;
                float alpha = n.OpType == "HardSigmoid" ? AttrFloat(n, "alpha", 0.2f) : 1f;
                var (lo, hi) = n.OpType switch
                {
                    "Relu" => (0.0, double.PositiveInfinity),
                    "Clip" => (Bound(g, n, 1, "min", double.NegativeInfinity), Bound(g, n, 2, "max", double.PositiveInfinity)),
                    _ => (0.0, 1.0), // HardSigmoid: on its output
                };
                var slope = new double[y0.Length];
                var offset = new double[y0.Length];
                for (int i = 0; i < y0.Length; i++)
                {
                    // Linear strictly inside the bounds (at a bound exactly, slope 0: the convention of the rules and PyTorch).
                    double t = n.OpType == "HardSigmoid" ? y0[i] : z0![i];
                    bool linear = t > lo && t < hi;

                    slope[i] = linear ? alpha : 0;
                    offset[i] = y0[i] - slope[i] * z0![i];
                }
                g.Initializer.Add(Real($"frozen{k}/slope", OnnxTensors.Float, zShape, slope));
                g.Initializer.Add(Real($"frozen{k}/offset", OnnxTensors.Float, zShape, offset));
                added.Add(NodeOf("Mul", [z, $"frozen{k}/slope"], [$"frozen{k}/scaled"]));
                added.Add(NodeOf("Add", [$"frozen{k}/scaled", $"frozen{k}/offset"], [y]));
            }
            g.Node.Insert(at, added[0]);
            for (int i = 1; i < added.Count; i++) g.Node.Insert(at + i, added[i]);
            k++;
        }
        return m;
    }

    /// <summary>A Clip bound from its constant input (opset ≥ 11) or attribute (older), else the default.</summary>
    private static double Bound(GraphProto g, NodeProto n, int input, string attribute, double dflt)
    {
        if (input < n.Input.Count && n.Input[input].Length > 0)
        {
            var t = g.Initializer.FirstOrDefault(i => i.Name == n.Input[input])
                ?? g.Node.FirstOrDefault(c => c.OpType == "Constant" && c.Output[0] == n.Input[input])?.Attribute.First(a => a.Name == "value").T
                ?? throw new NotSupportedException($"Clip '{n.Name}': bound '{n.Input[input]}' is not a constant");
            return OnnxTensors.ReadAsDoubles(t)[0];
        }
        return Attr(n, attribute) is { } a ? a.F : dflt;
    }

    private static NodeProto NodeOf(string op, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = op, Name = "frozen/" + outputs[0] };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attributes);
        return n;
    }
}
