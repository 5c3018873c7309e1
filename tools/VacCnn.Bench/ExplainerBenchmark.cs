using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using Onnx;
using VacCnn.Contracts;
using VacCnn.Engine.Evaluation;
using VacCnn.Engine.Plugins;
using VacCnn.Models.Onnx;
using static VacCnn.Bench.Table;

namespace VacCnn.Bench;

/// <summary>
/// Explainer cost (issue 3's benchmark), every figure against a baseline measured in the same run on the same model
/// and image: ms per explanation at batch 1 vs one plain forward pass (targets: Grad-CAM, Grad-CAM++ ≤ 2×); Score-CAM
/// vs the same number of forward passes run in batches of its batch size (≤ 1.2×); BBMP vs 300 forward passes
/// (≤ 3×); and Grad-CAM against PyTorch autograd (forward hook + backward, tools/bench_torch_gradcam.py) on the same
/// torchvision architectures exported to ONNX (target: ours / PyTorch ≤ 0.5). Models: the smallest and the largest
/// shared model (by MACs) and the ResNet-18 backbone of the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18
/// with a random linear head. The explainers are the deployed plugins (artifacts/plugins), as the host loads them.
/// <c>--quick</c> only checks that everything runs: 1 timed repeat and reduced settings (BBMP 5 iterations,
/// Smooth Grad-CAM++ 2 samples, Score-CAM 16 channels) — its figures mean nothing.
/// </summary>
internal sealed class ExplainerBenchmark(BenchOptions o)
{
    private readonly ModelSourceContext _context = new(o.Models, ExecutionDevice.Cpu, _ => { });
    private int Repeats => o.Quick ? 1 : 5;

    private Dictionary<string, double> Settings(string id) => !o.Quick ? [] : id switch
    {
        "bbmp" => new() { ["iterations"] = 5 },
        "smoothgradcampp" => new() { ["samples"] = 2 },
        "scorecam" => new() { ["channels"] = 16 },
        _ => [],
    };

    private int BbmpIterations => o.Quick ? 5 : 300;

    public void Run()
    {
        string pluginsDir = Path.Combine(RepoRoot(), "artifacts", "plugins");
        using var catalog = PluginCatalog.Load(pluginsDir);
        var explainers = catalog.Explainers.OrderBy(e => e.Id, StringComparer.Ordinal).ToList();
        if (explainers.Count == 0) throw new InvalidOperationException($"no explainer plugins in {pluginsDir}: build the solution first");
        string image = Directory.GetFiles(o.Samples).Order(StringComparer.Ordinal).First();
        string temp = Path.Combine(Path.GetTempPath(), $"vaccnn-bench-explain-{Environment.ProcessId}");
        Directory.CreateDirectory(temp);
        var loaded = new List<ModelLoadResult>();
        try
        {
            var shared = new OnnxModelSource().Discover(_context).Where(r => r.Classifier != null).ToList();
            loaded.AddRange(shared);
            var models = new List<IClassifier>
            {
                shared.MinBy(r => r.Classifier!.Card.MultiplyAccumulates)!.Classifier!,
                shared.MaxBy(r => r.Classifier!.Card.MultiplyAccumulates)!.Classifier!,
            };
            if (ResNet18Backbone.Write(Path.Combine(temp, "resnet18-nuget")) is { } folder)
            {
                var r = new OnnxModelSource().LoadFolder(folder, new ModelSourceContext(temp, ExecutionDevice.Cpu, _ => { }));
                loaded.Add(r);
                if (r.Classifier != null) models.Add(r.Classifier);
                else Console.Error.WriteLine($"  ResNet-18 backbone failed to load: {r.Error}");
            }

            var rows = new List<string[]>();
            foreach (var model in models) rows.AddRange(MeasureModel(model, explainers, image));
            Print($"Explainers (ms per explanation at batch 1, CPU; {Repeats} repeat(s){(o.Quick ? ", QUICK MODE: reduced settings, figures meaningless" : "")})",
                ["model", "GFLOPs", "explainer", "ms / explanation", "baseline", "baseline ms", "ratio", "target"], rows);

            if (o.Torch) CompareWithTorch(explainers.Single(e => e.Id == "gradcam"), image, loaded);
        }
        finally
        {
            foreach (var r in loaded) r.Classifier?.Dispose();
            Directory.Delete(temp, recursive: true);
        }
    }

    private IEnumerable<string[]> MeasureModel(IClassifier model, List<IExplainer> explainers, string imagePath)
    {
        var card = model.Card;
        Console.Error.WriteLine($"[explain] {card.Id} ({card.GigaFlops:F2} GFLOPs)…");
        var x = new ImagePreprocessor(card.Preprocessing).Preprocess([imagePath]).Tensor;
        double forward = Time(() => model.PredictProbabilities(x), Math.Max(10, Repeats * 4));
        var rows = new List<string[]>();
        foreach (var e in explainers)
        {
            var request = new ExplanationRequest(null, null, 1, Settings(e.Id));
            double ms = Time(() => e.Explain(model, x, request, CancellationToken.None), e.Id == "bbmp" && !o.Quick ? 1 : Repeats);
            string gf = F(card.GigaFlops, 2);
            switch (e.Id)
            {
                case "scorecam":
                {
                    int passes = ScoreCamPasses(model, x, o.Quick ? 16 : 0);
                    double batched = BatchedForward(model, x, passes, 32);
                    rows.Add([card.Id, gf, e.Id, F(ms), $"{passes} forward passes in batches of 32", F(batched), F(ms / batched, 2), "≤ 1.2"]);
                    break;
                }
                case "bbmp":
                    rows.Add([card.Id, gf, e.Id, F(ms), $"{BbmpIterations} forward passes (batch 1)", F(BbmpIterations * forward), F(ms / (BbmpIterations * forward), 2), "≤ 3"]);
                    break;
                default:
                    rows.Add([card.Id, gf, e.Id, F(ms), "1 forward pass (batch 1)", F(forward, 2), F(ms / forward, 2), e.Id is "gradcam" or "gradcampp" ? "≤ 2" : "–"]);
                    if (e.Id is "gradcam" or "gradcampp")
                    {
                        // What the host asks: it already knows the predicted class (it reports it), so it names it.
                        var probabilities = model.PredictProbabilities(x).Data;
                        int predicted = Array.IndexOf(probabilities, probabilities.Max());
                        var named = request with { ClassIndex = predicted };
                        double msNamed = Time(() => e.Explain(model, x, named, CancellationToken.None), Repeats);
                        rows.Add([card.Id, gf, e.Id + " (class named)", F(msNamed), "1 forward pass (batch 1)", F(forward, 2), F(msNamed / forward, 2), "≤ 2"]);
                    }
                    break;
            }
        }
        return rows;
    }

    /// <summary>Masked passes Score-CAM makes: channels whose activation map is not constant (or the kept subset).</summary>
    private static int ScoreCamPasses(IClassifier model, FloatTensor x, int keep)
    {
        var ex = model.Explainable!;
        var (_, a) = ex.Forward(x, ex.DefaultLayer);
        int k = a.Shape[1], hw = a.Shape[2] * a.Shape[3];
        int varying = Enumerable.Range(0, k).Count(c => { var s = a.Data.AsSpan(c * hw, hw); float min = s[0], max = s[0]; foreach (var v in s) { min = Math.Min(min, v); max = Math.Max(max, v); } return max > min; });
        return keep > 0 ? Math.Min(keep, varying) : varying;
    }

    /// <summary>ms for <paramref name="passes"/> forward passes of copies of x in batches of <paramref name="batch"/>.</summary>
    private double BatchedForward(IClassifier model, FloatTensor x, int passes, int batch)
    {
        int per = (int)x.Length;
        var full = new FloatTensor([batch, .. x.Shape[1..]], new float[batch * per]);
        for (int i = 0; i < batch; i++) x.Data.CopyTo(full.Data, i * per);
        int rest = passes % batch;
        var tail = new FloatTensor([Math.Max(rest, 1), .. x.Shape[1..]], full.Data[..(Math.Max(rest, 1) * per)]);
        return Time(() =>
        {
            for (int i = 0; i < passes / batch; i++) model.PredictProbabilities(full);
            if (rest > 0) model.PredictProbabilities(tail);
        }, Repeats);
    }

    /// <summary>
    /// Median ms of at least <paramref name="repeats"/> runs (more, up to 1 s or 200 runs, for sub-millisecond
    /// actions). Warm-up: one run, and for fast actions more until 0.5 s or 50 runs, so that the tiered JIT has
    /// optimised the explainers' own code as it would have in the long-running host: with a single warm-up run a
    /// 0.5 ms Grad-CAM was timed partly in unoptimised code while its 20-run forward-pass baseline was not.
    /// </summary>
    private static double Time(Action action, int repeats)
    {
        var warm = Stopwatch.StartNew();
        int calls = 0;
        do { action(); calls++; } while (calls < 50 && warm.Elapsed.TotalSeconds < 0.5);
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        do
        {
            var sw = Stopwatch.StartNew();
            action();
            times.Add(sw.Elapsed.TotalMilliseconds);
        } while (times.Count < repeats || (times.Count < 200 && total.Elapsed.TotalSeconds < 1));
        return times.Order().ElementAt(times.Count / 2);
    }

    private void CompareWithTorch(IExplainer gradCam, string imagePath, List<ModelLoadResult> loaded)
    {
        var rows = new List<string[]>();
        var evaluation = new EvaluationBenchmark(o);
        foreach (var arch in new[] { "resnet50", "mobilenet_v2" })
        {
            if (evaluation.ExportTorchvision(arch) is not { } folder) continue;
            var r = new OnnxModelSource().LoadFolder(folder, _context);
            loaded.Add(r);
            if (r.Classifier is not { } model) { Console.Error.WriteLine($"  {arch}: {r.Error}"); continue; }
            Console.Error.WriteLine($"[explain] Grad-CAM {arch}: ours vs PyTorch…");
            var x = new ImagePreprocessor(model.Card.Preprocessing).Preprocess([imagePath]).Tensor;
            var request = new ExplanationRequest(null, null, 1, new Dictionary<string, double>());
            double ours = Time(() => gradCam.Explain(model, x, request, CancellationToken.None), Repeats * 2);
            if (TorchGradCam(arch, imagePath, Repeats * 2) is not { } torch) continue;
            rows.Add([arch, model.Card.DefaultTargetLayer ?? "?", F(ours), F(torch.Ms), torch.Threads.ToString(CultureInfo.InvariantCulture), F(ours / torch.Ms, 2), "≤ 0.5"]);
        }
        if (rows.Count > 0)
            Print("Grad-CAM against PyTorch autograd (hooks + backward), same architecture and image, batch 1",
                ["torchvision arch", "layer", "VacCnn ms", "PyTorch ms", "torch threads", "VacCnn / PyTorch", "target"], rows);
    }

    private static (double Ms, int Threads)? TorchGradCam(string arch, string image, int repeats)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(RepoRoot(), "tools", "bench_torch_gradcam.py"), arch, repeats.ToString(CultureInfo.InvariantCulture), image })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) { Console.Error.WriteLine($"  PyTorch Grad-CAM {arch} failed: {err.Result}"); return null; }
        var root = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]).RootElement;
        return (root.GetProperty("ms_per_explanation").GetDouble(), root.GetProperty("threads").GetInt32());
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "VacCnn.sln"))) return dir.FullName;
        throw new InvalidOperationException("run the benchmark from a checkout");
    }
}

/// <summary>
/// The ResNet-18 backbone of NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18 (copied next to the program by the package)
/// with a random linear head (Flatten → Gemm 512 → 1000), written as a model folder the ONNX plugin loads.
/// </summary>
internal static class ResNet18Backbone
{
    public static string? Write(string folder)
    {
        string onnx = Path.Combine(AppContext.BaseDirectory, "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");
        if (!File.Exists(onnx)) { Console.Error.WriteLine($"  {onnx} missing (NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18)"); return null; }
        var m = ModelProto.Parser.ParseFrom(File.ReadAllBytes(onnx));
        var g = m.Graph;
        string features = g.Output.Single().Name;
        string input = g.Input.First(i => g.Initializer.All(t => t.Name != i.Name)).Name;
        var rng = new Random(18);
        g.Initializer.Add(Floats("head/W", [1000, 512], () => (float)(0.05 * (rng.NextDouble() * 2 - 1))));
        g.Initializer.Add(Floats("head/b", [1000], () => 0f));
        foreach (var t in new[] { ("head/W", new long[] { 1000, 512 }), ("head/b", new long[] { 1000 }) })
            g.Input.Add(Value(t.Item1, t.Item2)); // IR 3: initializers are also graph inputs
        var flatten = new NodeProto { OpType = "Flatten", Name = "head/Flatten" };
        flatten.Input.Add(features); flatten.Output.Add("head/flat");
        flatten.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        var gemm = new NodeProto { OpType = "Gemm", Name = "head/Gemm" };
        gemm.Input.AddRange(["head/flat", "head/W", "head/b"]); gemm.Output.Add("logits");
        gemm.Attribute.Add(new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        g.Node.Add(flatten); g.Node.Add(gemm);
        g.Output.Clear();
        g.Output.Add(Value("logits", [1, 1000]));
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, "model.onnx"), m.ToByteArray());
        File.WriteAllText(Path.Combine(folder, "model.json"), JsonSerializer.Serialize(new
        {
            id = "resnet18-nuget",
            name = "ResNet-18 backbone (NuGet) + random head",
            family = "ResNet",
            onnx = "model.onnx",
            input = new { name = input, layout = "NCHW", size = 224, resize = 256, channels = "RGB", mean = new[] { 123.675, 116.28, 103.53 }, std = new[] { 58.395, 57.12, 57.375 } },
            output = new { name = "logits", kind = "logits" },
            labels = "imagenet-1k",
        }));
        return folder;
    }

    private static TensorProto Floats(string name, long[] dims, Func<float> next)
    {
        long n = dims.Aggregate(1L, (a, d) => a * d);
        var bytes = new byte[n * 4];
        for (long i = 0; i < n; i++) BitConverter.TryWriteBytes(bytes.AsSpan((int)(i * 4)), next());
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
