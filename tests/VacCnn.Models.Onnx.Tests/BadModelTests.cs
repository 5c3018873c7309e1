using Onnx;
using VacCnn.Contracts;
using VacCnn.TestSupport;
using Xunit.Abstractions;

namespace VacCnn.Models.Onnx.Tests;

/// <summary>Each broken folder gives a clear error naming the model; the good models beside it still load.</summary>
public sealed class BadModelTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDir _root = new("vaccnn-bad");

    public void Dispose() => _root.Dispose();

    private string Error(string id)
    {
        var results = new OnnxModelSource().Discover(new ModelSourceContext(_root.Path, ExecutionDevice.Cpu, output.WriteLine));
        var r = results.Single(x => x.Id == id);
        Assert.Null(r.Classifier);
        Assert.NotNull(r.Error);
        output.WriteLine(r.Error);
        Assert.Contains(id, r.Error);
        return r.Error!;
    }

    private static byte[] RealModelBytes => File.ReadAllBytes(Path.Combine(TestPaths.Models, "mobilenet_v1_0.25_128_quant", "model.onnx"));

    [Fact]
    public void Garbage_bytes_are_not_an_onnx_model()
    {
        string dir = SyntheticModels.WriteFolder(_root.Path, "garbage", null, null);
        File.WriteAllText(Path.Combine(dir, "model.onnx"), "this is a text file, not a protobuf\n");
        Assert.Contains("not a valid ONNX model", Error("garbage"));
    }

    [Fact]
    public void Random_bytes_are_not_an_onnx_model()
    {
        string dir = SyntheticModels.WriteFolder(_root.Path, "random", null, null);
        var bytes = new byte[4096];
        new Random(7).NextBytes(bytes);
        File.WriteAllBytes(Path.Combine(dir, "model.onnx"), bytes);
        Assert.Contains("not a valid ONNX model", Error("random"));
    }

    [Fact]
    public void Truncated_file_is_reported()
    {
        string dir = SyntheticModels.WriteFolder(_root.Path, "truncated", null, null);
        byte[] real = RealModelBytes;
        File.WriteAllBytes(Path.Combine(dir, "model.onnx"), real[..(real.Length / 2)]);
        Assert.Contains("truncated", Error("truncated"));
    }

    [Fact]
    public void Manifest_input_name_not_in_graph()
    {
        SyntheticModels.WriteFolder(_root.Path, "badin", SyntheticModels.Tiny(), SyntheticModels.TinyManifest("badin", input: "images"));
        string e = Error("badin");
        Assert.Contains("input 'images'", e);
        Assert.Contains("'input'", e); // lists what the graph has
    }

    [Fact]
    public void Manifest_output_name_not_in_graph()
    {
        SyntheticModels.WriteFolder(_root.Path, "badout", SyntheticModels.Tiny(), SyntheticModels.TinyManifest("badout", output: "probs"));
        Assert.Contains("output 'probs'", Error("badout"));
    }

    [Fact]
    public void Input_that_is_not_4D()
    {
        var g = new GraphProto { Name = "flat" };
        g.Input.Add(SyntheticModels.Value("input", null, 10));
        g.Output.Add(SyntheticModels.Value("logits", null, 10));
        g.Node.Add(SyntheticModels.Node("Relu", ["input"], ["logits"]));
        SyntheticModels.WriteFolder(_root.Path, "flat", SyntheticModels.Model(g), null);
        Assert.Contains("2-D", Error("flat"));
    }

    [Fact]
    public void Class_count_must_match_the_label_set()
    {
        SyntheticModels.WriteFolder(_root.Path, "sixclasses", SyntheticModels.Tiny(), SyntheticModels.TinyManifest("sixclasses", labels: "imagenet-1k"));
        string e = Error("sixclasses");
        Assert.Contains("6 classes", e);
        Assert.Contains("imagenet-1k", e);
        Assert.Contains("1000", e);
    }

    [Fact]
    public void Invalid_json()
    {
        SyntheticModels.WriteFolder(_root.Path, "badjson", SyntheticModels.Tiny(), "{ \"id\": \"badjson\", \"input\": { \"size\": 8, } ");
        Assert.Contains("not valid JSON", Error("badjson"));
    }

    [Fact]
    public void Manifest_without_onnx_file()
    {
        SyntheticModels.WriteFolder(_root.Path, "noonnx", null, SyntheticModels.TinyManifest("noonnx"));
        Assert.Contains("no such file", Error("noonnx"));
    }

    [Fact]
    public void Absurd_input_size_in_the_manifest()
    {
        SyntheticModels.WriteFolder(_root.Path, "huge", SyntheticModels.Tiny([null, 3, null, null]), SyntheticModels.TinyManifest("huge", size: 100000));
        Assert.Contains("input.size 100000 is out of range 1..4096", Error("huge"));
    }

    [Fact]
    public void Absurd_input_dimension_in_the_graph()
    {
        SyntheticModels.WriteFolder(_root.Path, "hugegraph", SyntheticModels.Tiny([null, 3, 100000, 8]), null);
        Assert.Contains("H=100000", Error("hugegraph"));
    }

    [Fact]
    public void Manifest_size_disagreeing_with_the_graph()
    {
        SyntheticModels.WriteFolder(_root.Path, "mismatch", SyntheticModels.Tiny(), SyntheticModels.TinyManifest("mismatch", size: 16));
        Assert.Contains("input.size 16", Error("mismatch"));
    }

    [Fact]
    public void Zero_std_and_small_resize_are_rejected_with_clear_messages()
    {
        var e = Assert.Throws<FormatException>(() => ModelManifest.Parse(
            """{ "input": { "size": 224, "resize": 200, "mean": [0,0,0], "std": [1, 0, 1], "channels": "RGBA" }, "output": { "kind": "scores" } }"""));
        Assert.Contains("input.resize 200 is smaller than input.size 224", e.Message);
        Assert.Contains("input.std values must be finite and non-zero", e.Message);
        Assert.Contains("input.channels 'RGBA'", e.Message);
        Assert.Contains("output.kind 'scores'", e.Message);
        e = Assert.Throws<FormatException>(() => ModelManifest.Parse("""{ "input": { "mean": [1, 2] } }"""));
        Assert.Contains("input.mean must have 3 values, has 2", e.Message);
    }

    [Fact]
    public void One_bad_model_does_not_stop_the_others()
    {
        // A real model (symlinked, shared data is read-only) beside several broken ones.
        Directory.CreateSymbolicLink(Path.Combine(_root.Path, "good"), Path.Combine(TestPaths.Models, "mobilenet_v1_0.25_128_quant"));
        SyntheticModels.WriteFolder(_root.Path, "tiny", SyntheticModels.Tiny(), SyntheticModels.TinyManifest("tiny"));
        File.WriteAllText(Path.Combine(SyntheticModels.WriteFolder(_root.Path, "garbage", null, null), "model.onnx"), "garbage");
        SyntheticModels.WriteFolder(_root.Path, "badjson", SyntheticModels.Tiny(), "{");
        SyntheticModels.WriteFolder(_root.Path, "noonnx", null, "{}");
        Directory.CreateDirectory(Path.Combine(_root.Path, "not-a-model")); // neither file: ignored

        var results = new OnnxModelSource().Discover(new ModelSourceContext(_root.Path, ExecutionDevice.Cpu, output.WriteLine));
        try
        {
            Assert.Equal(5, results.Count);
            Assert.NotNull(results.Single(r => r.Id == "mobilenet_v1_0.25_128_quant").Classifier); // id from its model.json
            Assert.NotNull(results.Single(r => r.Id == "tiny").Classifier);
            Assert.Equal(3, results.Count(r => r.Error != null));
        }
        finally
        {
            foreach (var r in results) r.Classifier?.Dispose();
        }
    }

    [Fact]
    public void Cuda_requested_on_a_machine_without_it_fails_clearly_or_runs_on_cuda()
    {
        SyntheticModels.WriteFolder(_root.Path, "tiny", SyntheticModels.Tiny(), SyntheticModels.TinyManifest("tiny"));
        var log = new List<string>();
        var cuda = new OnnxModelSource().LoadFolder(Path.Combine(_root.Path, "tiny"), new ModelSourceContext(_root.Path, ExecutionDevice.Cuda, log.Add));
        var auto = new OnnxModelSource().LoadFolder(Path.Combine(_root.Path, "tiny"), new ModelSourceContext(_root.Path, ExecutionDevice.Auto, log.Add));
        foreach (string l in log) output.WriteLine(l);
        using var a = (OnnxClassifier)auto.Classifier!;
        Assert.NotNull(a);
        if (cuda.Classifier is OnnxClassifier c)
        {
            using (c) Assert.Equal("CUDAExecutionProvider", c.ExecutionProvider);
        }
        else
        {
            Assert.Contains("CUDA execution provider is not usable", cuda.Error);
            Assert.Equal("CPUExecutionProvider", a.ExecutionProvider); // Auto fell back
            Assert.Contains(log, l => l.Contains("falling back to CPU"));
        }
        Assert.Contains(log, l => l == $"model tiny runs on {a.ExecutionProvider}");
    }
}
