using Google.Protobuf;
using Onnx;
using VacCnn.Contracts;
using VacCnn.TestSupport;
using Xunit.Abstractions;

namespace VacCnn.Models.Onnx.Tests;

/// <summary>
/// Hostile model files: each is rejected with an error that names the model and the problem, without hanging or
/// crashing the process, and a good model in the same folder still loads.
/// </summary>
public sealed class HostileModelTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDir _root = new("vaccnn-hostile");

    public void Dispose() => _root.Dispose();

    private IReadOnlyList<ModelLoadResult> Discover(OnnxModelSource? source = null) =>
        (source ?? new OnnxModelSource()).Discover(new ModelSourceContext(_root.Path, ExecutionDevice.Cpu, output.WriteLine));

    private string Error(string id, OnnxModelSource? source = null)
    {
        SyntheticModels.WriteFolder(_root.Path, "good", SyntheticModels.Tiny(), SyntheticModels.TinyManifest("good"));
        var results = Discover(source);
        var bad = results.Single(x => x.Id == id);
        Assert.Null(bad.Classifier);
        Assert.NotNull(bad.Error);
        output.WriteLine(bad.Error);
        Assert.Contains(id, bad.Error);
        // The good model beside it is unaffected.
        var good = results.Single(x => x.Id == "good");
        Assert.Null(good.Error);
        good.Classifier!.Dispose();
        return bad.Error!;
    }

    [Fact]
    public void A_cyclic_graph_is_rejected_before_anything_walks_it()
    {
        var m = SyntheticModels.Tiny();
        // Clip now reads Gemm's output, which depends on Clip: c1 → r1 → … → fc → r1.
        var clip = m.Graph.Node.Single(n => n.OpType == "Clip");
        clip.Input[0] = "fc";
        SyntheticModels.WriteFolder(_root.Path, "cyclic", m, SyntheticModels.TinyManifest("cyclic"));
        Assert.Contains("cycle", Error("cyclic"));
    }

    [Fact]
    public void An_unknown_operator_is_named()
    {
        var m = SyntheticModels.Tiny();
        m.Graph.Node.Single(n => n.OpType == "Clip").OpType = "TotallyUnknownOp";
        SyntheticModels.WriteFolder(_root.Path, "unknownop", m, SyntheticModels.TinyManifest("unknownop"));
        Assert.Contains("TotallyUnknownOp", Error("unknownop"));
    }

    [Fact]
    public void An_operator_of_an_unknown_domain_is_rejected()
    {
        var m = SyntheticModels.Tiny();
        var clip = m.Graph.Node.Single(n => n.OpType == "Clip");
        clip.Domain = "evil.ops";
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "evil.ops", Version = 1 });
        SyntheticModels.WriteFolder(_root.Path, "evildomain", m, SyntheticModels.TinyManifest("evildomain"));
        string e = Error("evildomain");
        Assert.Contains("evil.ops", e);
        Assert.Contains("unknown operator", e);
    }

    [Theory]
    [InlineData("../../../../../../etc/passwd")]
    [InlineData("/etc/passwd")]
    [InlineData("../outside.bin")]
    public void External_data_outside_the_model_folder_is_refused(string location)
    {
        File.WriteAllBytes(Path.Combine(_root.Path, "outside.bin"), new byte[10 * 6 * 4]);
        var m = SyntheticModels.Tiny();
        var w = m.Graph.Initializer.Single(t => t.Name == "mm_w");
        w.RawData = ByteString.Empty;
        w.DataLocation = TensorProto.Types.DataLocation.External;
        w.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        SyntheticModels.WriteFolder(_root.Path, "exfil", m, SyntheticModels.TinyManifest("exfil"));
        Assert.Contains("outside its model folder", Error("exfil"));
    }

    [Fact]
    public void External_data_through_a_symbolic_link_out_of_the_folder_is_refused()
    {
        File.WriteAllBytes(Path.Combine(_root.Path, "outside.bin"), new byte[10 * 6 * 4]);
        var m = SyntheticModels.Tiny();
        var w = m.Graph.Initializer.Single(t => t.Name == "mm_w");
        w.RawData = ByteString.Empty;
        w.DataLocation = TensorProto.Types.DataLocation.External;
        w.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "weights.bin" });
        string dir = SyntheticModels.WriteFolder(_root.Path, "symlinked", m, SyntheticModels.TinyManifest("symlinked"));
        File.CreateSymbolicLink(Path.Combine(dir, "weights.bin"), Path.Combine(_root.Path, "outside.bin"));
        Assert.Contains("outside its model folder", Error("symlinked"));
    }

    [Fact]
    public void External_data_inside_the_folder_loads_and_predicts_like_the_inline_model()
    {
        var inline = SyntheticModels.Tiny();
        var external = SyntheticModels.Tiny();
        var w = external.Graph.Initializer.Single(t => t.Name == "mm_w");
        string dir = SyntheticModels.WriteFolder(_root.Path, "ext", null, SyntheticModels.TinyManifest("ext"));
        var padding = new byte[16];
        File.WriteAllBytes(Path.Combine(dir, "weights.bin"), [.. padding, .. w.RawData.ToByteArray()]);
        w.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "weights.bin" });
        w.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = "16" });
        w.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = w.RawData.Length.ToString() });
        w.RawData = ByteString.Empty;
        w.DataLocation = TensorProto.Types.DataLocation.External;
        File.WriteAllBytes(Path.Combine(dir, "model.onnx"), external.ToByteArray());
        SyntheticModels.WriteFolder(_root.Path, "inl", inline, SyntheticModels.TinyManifest("inl"));

        var results = Discover();
        using var a = results.Single(r => r.Id == "ext").Classifier ?? throw new Xunit.Sdk.XunitException(results.Single(r => r.Id == "ext").Error);
        using var b = results.Single(r => r.Id == "inl").Classifier!;
        var x = new float[2 * 3 * 8 * 8];
        for (int i = 0; i < x.Length; i++) x[i] = MathF.Sin(i * 0.37f);
        var input = new FloatTensor([2, 3, 8, 8], x);
        Assert.Equal(b.PredictProbabilities(input).Data, a.PredictProbabilities(input).Data);
    }

    [Fact]
    public void A_huge_declared_initializer_is_a_size_bomb()
    {
        var m = SyntheticModels.Tiny();
        var bomb = new TensorProto { Name = "bomb", DataType = 1 };
        bomb.Dims.AddRange([1L << 20, 1L << 20]); // 4 TiB declared, no data
        m.Graph.Initializer.Add(bomb);
        SyntheticModels.WriteFolder(_root.Path, "bomb", m, SyntheticModels.TinyManifest("bomb"));
        Assert.Contains("size limit", Error("bomb"));
    }

    [Fact]
    public void Declared_and_stored_sizes_must_agree()
    {
        var m = SyntheticModels.Tiny();
        m.Graph.Initializer.Single(t => t.Name == "fc_w").Dims[0] = 1000; // declares 1000×64, holds 10×64
        SyntheticModels.WriteFolder(_root.Path, "liar", m, SyntheticModels.TinyManifest("liar"));
        Assert.Contains("holds 2560 bytes", Error("liar"));
    }

    [Fact]
    public void A_constant_shape_that_would_allocate_terabytes_is_rejected()
    {
        var m = SyntheticModels.Tiny();
        var raw = new byte[3 * 8];
        foreach (var (v, i) in new long[] { 100_000, 100_000, 1000 }.Select((v, i) => (v, i))) BitConverter.TryWriteBytes(raw.AsSpan(i * 8), v);
        var shape = new TensorProto { Name = "huge_shape", DataType = 7, RawData = ByteString.CopyFrom(raw) };
        shape.Dims.Add(3);
        m.Graph.Initializer.Add(shape);
        m.Graph.Node.Add(SyntheticModels.Node("ConstantOfShape", ["huge_shape"], ["filler"]));
        SyntheticModels.WriteFolder(_root.Path, "alloc", m, SyntheticModels.TinyManifest("alloc"));
        Assert.Contains("ConstantOfShape", Error("alloc"));
    }

    [Fact]
    public void An_absurd_declared_output_shape_is_rejected()
    {
        var m = SyntheticModels.Tiny();
        m.Graph.ValueInfo.Add(SyntheticModels.Value("c1", 1, 4, 1_000_000, 1_000_000));
        SyntheticModels.WriteFolder(_root.Path, "absurd", m, SyntheticModels.TinyManifest("absurd"));
        Assert.Contains("absurd shape", Error("absurd"));
    }

    [Fact]
    public void A_file_over_the_configured_size_limit_is_not_read()
    {
        SyntheticModels.WriteFolder(_root.Path, "big", SyntheticModels.Tiny(), SyntheticModels.TinyManifest("big"));
        var small = new OnnxModelSource { MaxModelBytes = 1024 };
        var results = Discover(small);
        var big = results.Single(r => r.Id == "big");
        Assert.Null(big.Classifier);
        Assert.Contains("over the size limit of 1024 bytes", big.Error);
    }
}
