using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using VacCnn.Models.Onnx.Backward;

namespace VacCnn.Models.Onnx.Tests.Backward;

/// <summary>A small test graph: input "x" [N,…] → Identity "t" (the 4-D target) → … → output "y".</summary>
internal sealed class TestGraph
{
    private readonly Random _rng;
    private int _k;

    public TestGraph(int elemType, long[] xShape, int seed = 1)
    {
        ElemType = elemType;
        XShape = xShape;
        _rng = new Random(seed);
        var dims = new long?[xShape.Length];
        dims[0] = null;
        for (int i = 1; i < xShape.Length; i++) dims[i] = xShape[i];
        var v = SyntheticModels.Value("x", dims);
        v.Type.TensorType.ElemType = elemType;
        Graph.Input.Add(v);
        Graph.Node.Add(SyntheticModels.Node("Identity", ["x"], ["t"]));
    }

    public int ElemType { get; }

    public long[] XShape { get; }

    public GraphProto Graph { get; } = new() { Name = "test" };

    public string Last { get; private set; } = "t";

    /// <summary>A constant initializer with given values (or normal random ones).</summary>
    public string Const(long[] dims, double[]? values = null, double scale = 1, double offset = 0)
    {
        long n = dims.Aggregate(1L, (a, d) => a * d);
        values ??= Enumerable.Range(0, (int)n).Select(_ => offset + scale * Normal(_rng)).ToArray();
        string name = $"c{_k++}";
        Graph.Initializer.Add(OnnxBuild.Real(name, ElemType, dims, values));
        return name;
    }

    public string Ints(params long[] values)
    {
        string name = $"i{_k++}";
        Graph.Initializer.Add(OnnxBuild.Int64s(name, [values.Length], values));
        return name;
    }

    /// <summary>Adds a node; "_" in inputs stands for the previous output. Returns (and remembers) its first output.</summary>
    public string Add(string op, string[] inputs, params AttributeProto[] attrs) => AddMulti(op, inputs, 1, attrs)[0];

    public string[] AddMulti(string op, string[] inputs, int outputs, params AttributeProto[] attrs)
    {
        var outs = Enumerable.Range(0, outputs).Select(i => $"{op.ToLowerInvariant()}{_k++}").ToArray();
        var n = SyntheticModels.Node(op, inputs.Select(i => i == "_" ? Last : i).ToArray(), outs, attrs);
        Graph.Node.Add(n);
        Last = outs[0];
        return outs;
    }

    public ModelProto Finish(long opset = 13)
    {
        Graph.Node.Add(SyntheticModels.Node("Identity", [Last], ["y"]));
        Graph.Output.Add(new ValueInfoProto { Name = "y", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = ElemType } } });
        return SyntheticModels.Model(Graph, opset);
    }

    public static double Normal(Random r) => Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());
}

/// <summary>Runs a model (float or double input) and returns named outputs as doubles.</summary>
internal sealed class Runner : IDisposable
{
    private readonly InferenceSession _session;
    private readonly int _type;

    public Runner(ModelProto model, int elemType, GraphOptimizationLevel level = GraphOptimizationLevel.ORT_ENABLE_ALL)
    {
        _type = elemType;
        using var o = new SessionOptions { IntraOpNumThreads = 1, GraphOptimizationLevel = level };
        _session = new InferenceSession(model.ToByteArray(), o);
    }

    public double[][] Run(IReadOnlyList<(string Name, double[] Data, long[] Shape)> inputs, params string[] outputs)
    {
        var values = inputs.Select(i => _type == OnnxTensors.Double
            ? OrtValue.CreateTensorValueFromMemory(i.Data, i.Shape)
            : OrtValue.CreateTensorValueFromMemory(i.Data.Select(v => (float)v).ToArray(), i.Shape)).ToList();
        try
        {
            using var ro = new RunOptions();
            using var outs = _session.Run(ro, inputs.Select(i => i.Name).ToArray(), values, outputs);
            return outs.Select(o => _type == OnnxTensors.Double
                ? o.GetTensorDataAsSpan<double>().ToArray()
                : o.GetTensorDataAsSpan<float>().ToArray().Select(v => (double)v).ToArray()).ToArray();
        }
        finally { foreach (var v in values) v.Dispose(); }
    }

    public void Dispose() => _session.Dispose();
}

/// <summary>Central finite differences against the backward graph's input gradient.</summary>
internal static class GradCheck
{
    /// <param name="Elementwise">max_i |FD_i − g_i| / max_i |g_i| over every input element.</param>
    /// <param name="Directional">max over random directions v of |FD_v − ⟨g,v⟩| / (‖g‖·‖v‖).</param>
    /// <param name="GradNorm">‖g‖ (guards against a vacuous all-zero check).</param>
    public sealed record Report(double Elementwise, double Directional, double GradNorm);

    public static Report Check(ModelProto model, int elemType, long[] xShape, double eps, int seed = 7, string target = "t", double[]? kinks = null)
    {
        var rng = new Random(seed);
        long nx = xShape.Aggregate(1L, (a, d) => a * d);
        var x = Enumerable.Range(0, (int)nx).Select(_ => TestGraph.Normal(rng)).ToArray();
        foreach (double k in kinks ?? [])
            for (int i = 0; i < x.Length; i++)
                if (Math.Abs(x[i] - k) < 6 * eps) x[i] = k + (x[i] >= k ? 6 : -6) * eps;
        using var fwd = new Runner(model, elemType);
        int n = (int)xShape[0];
        int ny = fwd.Run([("x", x, xShape)], "y")[0].Length;
        var seedV = Enumerable.Range(0, ny).Select(_ => TestGraph.Normal(rng)).ToArray();
        double F(double[] xx)
        {
            var y = fwd.Run([("x", xx, xShape)], "y")[0];
            double s = 0;
            for (int i = 0; i < y.Length; i++) s += seedV[i] * y[i];
            return s;
        }
        var graph = BackwardGraphBuilder.Build(model, "x", "y", target, true, [1, .. xShape[1..]]);
        using var bwd = new Runner(graph.Model, elemType);
        var g = bwd.Run([("x", x, xShape), ("seed", seedV, [n, ny / n])], "grad_input")[0];
        double gMax = g.Max(Math.Abs), gNorm = Math.Sqrt(g.Sum(v => v * v));

        double elem = 0;
        if (nx <= 600)
        {
            for (int i = 0; i < nx; i++)
            {
                double keep = x[i];
                x[i] = keep + eps; double fp = F(x);
                x[i] = keep - eps; double fm = F(x);
                x[i] = keep;
                elem = Math.Max(elem, Math.Abs((fp - fm) / (2 * eps) - g[i]) / gMax);
            }
        }
        double dir = 0;
        for (int k = 0; k < 3; k++)
        {
            var v = Enumerable.Range(0, (int)nx).Select(_ => TestGraph.Normal(rng)).ToArray();
            double vn = Math.Sqrt(v.Sum(a => a * a));
            double fd = (F(x.Zip(v, (a, b) => a + eps * b).ToArray()) - F(x.Zip(v, (a, b) => a - eps * b).ToArray())) / (2 * eps);
            double dot = g.Zip(v, (a, b) => a * b).Sum();
            dir = Math.Max(dir, Math.Abs(fd - dot) / (gNorm * vn));
        }
        return new Report(elem, dir, gNorm);
    }
}
