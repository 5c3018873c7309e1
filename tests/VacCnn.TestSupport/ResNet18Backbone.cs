using System.Buffers.Binary;
using System.Text.Json;
using Google.Protobuf;
using Onnx;

namespace VacCnn.TestSupport;

/// <summary>
/// The real ResNet-18 backbone of NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18 (ResNet18.onnx: opset 8, IR 3,
/// fixed batch 1, ends in a 7×7 AveragePool to [1,512,1,1]) with a random linear head (Flatten → Gemm 512 → 1000),
/// written as a model folder the ONNX plugin loads. One place for the gradient tests and the explainer benchmark;
/// each references the NuGet package, which copies ResNet18.onnx next to its binaries.
/// </summary>
public static class ResNet18Backbone
{
    public const int Classes = 1000;

    public const string Id = "resnet18-nuget";

    /// <summary>Where the package put the backbone.</summary>
    public static string OnnxPath => Path.Combine(AppContext.BaseDirectory, "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");

    /// <summary>Writes model.onnx and model.json into <paramref name="folder"/>; returns the head's weights [1000, 512], row-major.</summary>
    public static double[] WriteModelFolder(string folder)
    {
        if (!File.Exists(OnnxPath)) throw new FileNotFoundException($"ResNet18.onnx was not copied from the NuGet package to {OnnxPath}", OnnxPath);
        var m = ModelProto.Parser.ParseFrom(File.ReadAllBytes(OnnxPath));
        var g = m.Graph;
        string features = g.Output.Single().Name;
        string input = g.Input.First(i => g.Initializer.All(t => t.Name != i.Name)).Name;
        var rng = new Random(18);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var w = Enumerable.Range(0, Classes * 512).Select(_ => 0.05 * Normal()).ToArray();
        var b = Enumerable.Range(0, Classes).Select(_ => 0.1 * Normal()).ToArray();
        g.Initializer.Add(Floats("head/W", [Classes, 512], w));
        g.Initializer.Add(Floats("head/b", [Classes], b));
        g.Input.Add(Value("head/W", [Classes, 512])); // IR 3 wants every initializer listed among the graph inputs
        g.Input.Add(Value("head/b", [Classes]));
        var flatten = new NodeProto { OpType = "Flatten", Name = "head/Flatten" };
        flatten.Input.Add(features);
        flatten.Output.Add("head/flat");
        flatten.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        var gemm = new NodeProto { OpType = "Gemm", Name = "head/Gemm" };
        gemm.Input.AddRange(["head/flat", "head/W", "head/b"]);
        gemm.Output.Add("logits");
        gemm.Attribute.Add(new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        g.Node.Add(flatten);
        g.Node.Add(gemm);
        g.Output.Clear();
        g.Output.Add(Value("logits", [1, Classes]));
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, "model.onnx"), m.ToByteArray());
        File.WriteAllText(Path.Combine(folder, "model.json"), JsonSerializer.Serialize(new
        {
            id = Id,
            name = "ResNet-18 backbone (Microsoft.ML.DnnImageFeaturizer.ResNet18) + random head",
            family = "ResNet",
            onnx = "model.onnx",
            input = new { name = input, layout = "NCHW", size = 224, resize = 256, channels = "RGB", mean = new[] { 123.675, 116.28, 103.53 }, std = new[] { 58.395, 57.12, 57.375 } },
            output = new { name = "logits", kind = "logits" },
            labels = "imagenet-1k",
            source = "NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 + random Gemm head",
            licence = "MIT",
        }));
        return w;
    }

    private static TensorProto Floats(string name, long[] dims, double[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), (float)values[i]);
        var t = new TensorProto { Name = name, DataType = 1, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims);
        return t;
    }

    private static ValueInfoProto Value(string name, long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }
}
