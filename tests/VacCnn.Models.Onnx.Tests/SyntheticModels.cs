using Google.Protobuf;
using Onnx;

namespace VacCnn.Models.Onnx.Tests;

/// <summary>Tiny ONNX graphs built in C# whose MACs and parameters can be computed by hand.</summary>
internal static class SyntheticModels
{
    private static TensorProto Tensor(string name, int type, long[] dims, byte[] raw)
    {
        var t = new TensorProto { Name = name, DataType = type, RawData = ByteString.CopyFrom(raw) };
        t.Dims.AddRange(dims);
        return t;
    }

    public static TensorProto Floats(string name, long[] dims, Func<int, float> value)
    {
        int n = (int)dims.Aggregate(1L, (a, d) => a * d);
        var raw = new byte[n * 4];
        for (int i = 0; i < n; i++) BitConverter.TryWriteBytes(raw.AsSpan(i * 4), value(i));
        return Tensor(name, 1, dims, raw);
    }

    private static TensorProto Int8s(string name, long[] dims, Func<int, sbyte> value)
    {
        int n = (int)dims.Aggregate(1L, (a, d) => a * d);
        return Tensor(name, 3, dims, Enumerable.Range(0, n).Select(i => (byte)value(i)).ToArray());
    }

    private static TensorProto Int64s(string name, long[] values)
    {
        var raw = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++) BitConverter.TryWriteBytes(raw.AsSpan(i * 8), values[i]);
        return Tensor(name, 7, [values.Length], raw);
    }

    public static NodeProto Node(string op, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = op, Name = op + "_" + outputs[0] };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attributes);
        return n;
    }

    public static AttributeProto Ints(string name, params long[] v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    public static AttributeProto Int(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };

    /// <summary>A float tensor value-info; null dims are symbolic ("N").</summary>
    public static ValueInfoProto Value(string name, params long?[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is { } v ? new TensorShapeProto.Types.Dimension { DimValue = v } : new TensorShapeProto.Types.Dimension { DimParam = "N" });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }

    public static ModelProto Model(GraphProto graph, long opset = 13)
    {
        var m = new ModelProto { IrVersion = 7, ProducerName = "VacCnn tests", Graph = graph };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return m;
    }

    /// <summary>
    /// input [N,3,8,8] → Conv1 (4×3×3×3, pad 1; int8 weights behind a per-channel DequantizeLinear; bias 4)
    /// → Clip(0, 6) with scalar bounds → Conv2 (4×2×3×3, group 2, stride 2, pad 1; bias 4) → Reshape [0,-1]
    /// (int64 shape) → Gemm (B 10×64, transB; bias 10) → MatMul (B 10×6) → "logits" [N,6].
    /// Hand count (batch 1):
    ///   Conv1 MACs = Cout·Hout·Wout·(Cin/g)·kH·kW = 4·8·8·3·3·3 = 6912
    ///   Conv2 MACs = 4·4·4·(4/2)·3·3 = 1152 (8×8 → 4×4 with stride 2, pad 1, k 3)
    ///   Gemm  MACs = M·N·K = 1·10·64 = 640;  MatMul MACs = 1·6·10 = 60.  Total 8764.
    ///   Parameters = 108 + 4 + 72 + 4 + 640 + 10 + 60 = 898 (int8 weights once; scales, zero points, Clip bounds
    ///   and the int64 shape are not parameters).
    /// </summary>
    public const long TinyMacs = 8764, TinyParameters = 898;

    public static ModelProto Tiny(long?[]? inputDims = null, int classes = 6)
    {
        var g = new GraphProto { Name = "tiny" };
        g.Input.Add(Value("input", inputDims ?? [null, 3, 8, 8]));
        g.Output.Add(Value("logits", null, classes));
        g.Initializer.Add(Int8s("w1_q", [4, 3, 3, 3], i => (sbyte)((i * 37 % 255) - 127)));
        g.Initializer.Add(Floats("w1_scale", [4], i => 0.01f * (i + 1)));
        g.Initializer.Add(Int8s("w1_zp", [4], i => (sbyte)(i - 2)));
        g.Initializer.Add(Floats("b1", [4], i => 0.1f * i));
        g.Initializer.Add(Floats("clip_min", [], _ => 0f));
        g.Initializer.Add(Floats("clip_max", [], _ => 6f));
        g.Initializer.Add(Floats("w2", [4, 2, 3, 3], i => MathF.Sin(i)));
        g.Initializer.Add(Floats("b2", [4], i => -0.05f * i));
        g.Initializer.Add(Int64s("shape", [0, -1]));
        g.Initializer.Add(Floats("fc_w", [10, 64], i => MathF.Cos(i) * 0.1f));
        g.Initializer.Add(Floats("fc_b", [10], i => 0.01f * i));
        g.Initializer.Add(Floats("mm_w", [10, classes], i => (i % 7 - 3) * 0.2f));
        g.Node.Add(Node("DequantizeLinear", ["w1_q", "w1_scale", "w1_zp"], ["w1; dequantized"], Int("axis", 0)));
        g.Node.Add(Node("Conv", ["input", "w1; dequantized", "b1"], ["c1"], Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1)));
        g.Node.Add(Node("Clip", ["c1", "clip_min", "clip_max"], ["r1"]));
        g.Node.Add(Node("Conv", ["r1", "w2", "b2"], ["c2"], Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1),
            Ints("strides", 2, 2), Int("group", 2)));
        g.Node.Add(Node("Reshape", ["c2", "shape"], ["flat"]));
        g.Node.Add(Node("Gemm", ["flat", "fc_w", "fc_b"], ["fc"], Int("transB", 1)));
        g.Node.Add(Node("MatMul", ["fc", "mm_w"], ["logits"]));
        return Model(g);
    }

    /// <summary>Writes a model folder: the graph as model.onnx and, when given, model.json.</summary>
    public static string WriteFolder(string root, string id, ModelProto? model, string? manifestJson)
    {
        string dir = Path.Combine(root, id);
        Directory.CreateDirectory(dir);
        if (model != null) File.WriteAllBytes(Path.Combine(dir, "model.onnx"), model.ToByteArray());
        if (manifestJson != null) File.WriteAllText(Path.Combine(dir, "model.json"), manifestJson);
        return dir;
    }

    /// <summary>A manifest for the tiny model (labels: a set the plugin does not know, so 6 classes are fine).</summary>
    public static string TinyManifest(string id, int size = 8, string input = "input", string output = "logits", string labels = "synthetic-6") => $$"""
        {
          "id": "{{id}}", "name": "Tiny {{id}}", "family": "Synthetic", "onnx": "model.onnx",
          "input": { "name": "{{input}}", "layout": "NCHW", "size": {{size}}, "resize": {{Math.Max(size, 9)}}, "channels": "RGB",
                     "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375] },
          "output": { "name": "{{output}}", "kind": "logits" },
          "labels": "{{labels}}", "targetLayer": "r1", "source": "unit test", "licence": "none",
          "someFutureField": { "ignored": true }
        }
        """;
}
