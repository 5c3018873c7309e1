using System.Buffers.Binary;
using Google.Protobuf;
using Onnx;

namespace VacCnn.Models.Onnx.Backward;

/// <summary>Small helpers to create ONNX attributes and constant tensors.</summary>
internal static class OnnxBuild
{
    public static AttributeProto Int(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };

    public static AttributeProto Float(string name, float v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = v };

    public static AttributeProto Str(string name, string v) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(v) };

    public static AttributeProto Ints(string name, IEnumerable<long> v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    public static AttributeProto Tensor(string name, TensorProto t) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Tensor, T = t };

    /// <summary>A float32 or float64 tensor (elemType 1 or 11) as raw little-endian bytes.</summary>
    public static TensorProto Real(string name, int elemType, long[] dims, double[] values)
    {
        byte[] bytes;
        if (elemType == OnnxTensors.Double)
        {
            bytes = new byte[values.Length * 8];
            for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(i * 8), values[i]);
        }
        else if (elemType == OnnxTensors.Float)
        {
            bytes = new byte[values.Length * 4];
            for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), (float)values[i]);
        }
        else throw new NotSupportedException($"gradients need a float32 or float64 graph, not element type {elemType}");
        var t = new TensorProto { Name = name, DataType = elemType, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims);
        return t;
    }

    public static TensorProto Int64s(string name, long[] dims, long[] values)
    {
        var bytes = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * 8), values[i]);
        var t = new TensorProto { Name = name, DataType = OnnxTensors.Int64, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims);
        return t;
    }

    /// <summary>The graph's constant tensors by name: its initializers and the values of its Constant nodes.</summary>
    public static Dictionary<string, TensorProto> Constants(GraphProto g)
    {
        var constants = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (var t in g.Initializer) constants[t.Name] = t;
        foreach (var n in g.Node)
            if (n.OpType == "Constant" && Attr(n, "value") is { T: { } t }) constants[n.Output[0]] = t;
        return constants;
    }

    public static AttributeProto? Attr(NodeProto n, string name) => n.Attribute.FirstOrDefault(a => a.Name == name);

    public static long AttrInt(NodeProto n, string name, long dflt) => Attr(n, name)?.I ?? dflt;

    public static float AttrFloat(NodeProto n, string name, float dflt) => Attr(n, name) is { } a ? a.F : dflt;

    public static string AttrString(NodeProto n, string name, string dflt) => Attr(n, name) is { } a ? a.S.ToStringUtf8() : dflt;

    public static long[]? AttrInts(NodeProto n, string name) => Attr(n, name)?.Ints.ToArray();

    public static bool IsDefaultDomain(NodeProto n) => string.IsNullOrEmpty(n.Domain) || n.Domain == "ai.onnx";

    public static long DefaultOpset(ModelProto m) =>
        m.OpsetImport.FirstOrDefault(o => string.IsNullOrEmpty(o.Domain) || o.Domain == "ai.onnx")?.Version ?? 1;
}
