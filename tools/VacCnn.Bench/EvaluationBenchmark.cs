using System.Diagnostics;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using VacCnn.Contracts;
using VacCnn.Engine.Data;
using VacCnn.Engine.Evaluation;
using VacCnn.Engine.Plugins;
using VacCnn.Engine.Store;
using VacCnn.Models.Onnx;
using VacCnn.TestSupport;
using static VacCnn.Bench.Table;

namespace VacCnn.Bench;

/// <summary>
/// Evaluation throughput: raw ONNX Runtime on pre-decoded tensors (best batch size) vs end-to-end evaluation
/// (decode + ML.NET preprocessing + inference + store), ML.NET's ApplyOnnxModel path, constant folding on/off, and
/// PyTorch evaluating the same torchvision architectures on the same images.
/// </summary>
internal sealed class EvaluationBenchmark(BenchOptions o)
{
    private static readonly int[] BatchSizes = [1, 8, 16, 32];
    private readonly ModelSourceContext _context = new(o.Models, ExecutionDevice.Cpu, _ => { });

    public void Run()
    {
        var classes = ImageNetClasses.Load(o.ImageNet);
        string imagesDir = Path.Combine(Path.GetTempPath(), $"vaccnn-bench-images-{Environment.ProcessId}");
        Directory.CreateDirectory(imagesDir);
        try
        {
            foreach (var f in Directory.GetFiles(o.Samples).Order(StringComparer.Ordinal).Take(o.ImageCount))
                File.Copy(f, Path.Combine(imagesDir, Path.GetFileName(f)), overwrite: true);
            var set = ImageSet.Open(imagesDir, classes);
            var paths = set.Images.Select(i => i.Path).ToList();

            var shared = new OnnxModelSource().Discover(_context).Where(r => r.Classifier != null).ToList();
            var smallest = shared.MinBy(r => r.Classifier!.Card.MultiplyAccumulates)!;
            var largest = shared.MaxBy(r => r.Classifier!.Card.MultiplyAccumulates)!;
            var candidates = new List<(ModelLoadResult Model, string? TorchArch)> { (smallest, null), (largest, null) };
            if (o.Torch && TorchAvailable())
                foreach (var arch in new[] { "mobilenet_v2", "resnet50" })
                    if (ExportTorchvision(arch) is { } folder)
                        candidates.Add((new OnnxModelSource().LoadFolder(folder, _context), arch));

            var rows = new List<string[]>();
            var torchRows = new List<string[]>();
            foreach (var (model, arch) in candidates)
            {
                var c = model.Classifier ?? throw new InvalidOperationException(model.Error);
                Console.Error.WriteLine($"[evaluation] {c.Card.Id} ({c.Card.GigaFlops:F2} GFLOPs)…");
                var pre = new ImagePreprocessor(c.Card.Preprocessing);
                var tensors = pre.Preprocess(paths);
                var (bestBatch, rawRate) = BestRawThroughput(c, tensors.Tensor);
                double e2e = EndToEnd(model, set, classes, bestBatch);
                double mlnet = MlNetApplyOnnx(model, c, paths);
                double preRate = PreprocessRate(pre, paths);
                rows.Add([c.Card.Id, F(c.Card.GigaFlops, 2), bestBatch.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    F(rawRate), F(preRate), F(e2e), F(e2e / rawRate, 2), double.IsNaN(mlnet) ? "failed" : F(mlnet)]);
                if (arch != null && TorchRate(arch, bestBatch, paths) is double torch)
                    torchRows.Add([arch, F(e2e), F(torch), F(e2e / torch, 2)]);
            }
            Print("Evaluation throughput (images/s; CPU)",
                ["model", "GFLOPs", "best batch", "raw ORT", "ML.NET preprocessing", "end-to-end", "end-to-end / raw", "ML.NET ApplyOnnxModel"], rows);
            if (torchRows.Count > 0)
                Print("Against PyTorch (same architecture, same images, end-to-end incl. decoding)",
                    ["torchvision arch", "VacCnn end-to-end", "PyTorch", "VacCnn / PyTorch"], torchRows);

            var foldRows = new List<string[]>();
            foreach (var m in shared.Where(r => r.Id is "mobilenet_v2_1.0_224_quant" or "hardnet39ds_int8" or "regnetx_200mf_int8"))
            {
                var c = m.Classifier!;
                var tensors = new ImagePreprocessor(c.Card.Preprocessing).Preprocess(paths.Take(64).ToList()).Tensor;
                using var unfolded = new OnnxModelSource { FoldConstants = false }.LoadFolder(Path.GetDirectoryName(m.Location + "/")!, _context).Classifier!;
                double off = Rate(unfolded, tensors, 16), on = Rate(c, tensors, 16);
                foldRows.Add([c.Card.Id, F(off), F(on), F(on / off, 2)]);
            }
            Print("Constant folding of DequantizeLinear weights (raw images/s, batch 16)", ["model", "as stored", "folded", "speed-up"], foldRows);
        }
        finally
        {
            Directory.Delete(imagesDir, recursive: true);
        }
    }

    private static (int Batch, double Rate) BestRawThroughput(IClassifier c, FloatTensor all)
    {
        var results = BatchSizes.Select(b => (b, Rate(c, all, b))).ToList();
        return results.MaxBy(r => r.Item2);
    }

    /// <summary>Images/s of PredictProbabilities over pre-decoded tensors in batches of <paramref name="batch"/>.</summary>
    private static double Rate(IClassifier c, FloatTensor all, int batch)
    {
        int n = all.Shape[0], per = (int)(all.Length / n);
        FloatTensor Slice(int start, int count) =>
            new([count, all.Shape[1], all.Shape[2], all.Shape[3]], all.Data.AsSpan(start * per, count * per).ToArray());
        var batches = Enumerable.Range(0, (n + batch - 1) / batch).Select(i => Slice(i * batch, Math.Min(batch, n - i * batch))).ToList();
        c.PredictProbabilities(batches[0]); // warm-up
        var sw = Stopwatch.StartNew();
        foreach (var b in batches) c.PredictProbabilities(b);
        return n / sw.Elapsed.TotalSeconds;
    }

    private static double PreprocessRate(ImagePreprocessor pre, List<string> paths)
    {
        var sw = Stopwatch.StartNew();
        foreach (var chunk in paths.Chunk(16)) pre.Preprocess(chunk);
        return paths.Count / sw.Elapsed.TotalSeconds;
    }

    /// <summary>The real evaluation code path (as the background job runs it) into a fresh store.</summary>
    private double EndToEnd(ModelLoadResult model, ImageSet set, ImageNetClasses classes, int batch)
    {
        string data = Path.Combine(Path.GetTempPath(), $"vaccnn-bench-data-{Guid.NewGuid():N}");
        try
        {
            var registry = ModelRegistry.FromResults(Path.GetDirectoryName(model.Location)!, [model with { Classifier = new BorrowedClassifier(model.Classifier!) }]);
            var service = new EvaluationService(registry, new ResultStore(data), classes, shardSize: 100, batchSize: batch);
            var sw = Stopwatch.StartNew();
            var summary = service.Evaluate(model.Id, set);
            double rate = (summary.Images + summary.Skipped) / sw.Elapsed.TotalSeconds;
            return rate;
        }
        finally { Directory.Delete(data, recursive: true); }
    }

    /// <summary>ML.NET's own path: LoadImages → ResizeImages → ExtractPixels → ApplyOnnxModel, row by row.</summary>
    private static double MlNetApplyOnnx(ModelLoadResult model, IClassifier c, List<string> paths)
    {
        try
        {
            var p = c.Card.Preprocessing;
            string onnx = Path.Combine(model.Location, "model.onnx");
            var ml = new MLContext(seed: 0);
            var data = ml.Data.LoadFromEnumerable(paths.Select(x => new ImageRow { Path = x }));
            var info = new Microsoft.ML.OnnxRuntime.InferenceSession(onnx);
            string input = info.InputMetadata.Keys.First(), output = info.OutputMetadata.Keys.First();
            info.Dispose();
            var pipeline = ml.Transforms.LoadImages("image", null, nameof(ImageRow.Path))
                .Append(ml.Transforms.ResizeImages("image", p.CropWidth, p.CropHeight, "image", ImageResizingEstimator.ResizingKind.IsoCrop))
                .Append(ml.Transforms.ExtractPixels(input, "image", interleavePixelColors: false, offsetImage: -p.Mean[0], scaleImage: 1f / p.Std[0]))
                .Append(ml.Transforms.ApplyOnnxModel([output], [input], onnx,
                    shapeDictionary: new Dictionary<string, int[]> { [input] = [1, 3, p.CropHeight, p.CropWidth] },
                    gpuDeviceId: null, fallbackToCpu: true, recursionLimit: 100));
            var fitted = pipeline.Fit(ml.Data.LoadFromEnumerable(paths.Take(1).Select(x => new ImageRow { Path = x })));
            var sw = Stopwatch.StartNew();
            int n = fitted.Transform(data).GetColumn<float[]>(output).Count();
            return n / sw.Elapsed.TotalSeconds;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"  ML.NET ApplyOnnxModel failed: {e.GetType().Name}: {e.Message}");
            return double.NaN;
        }
    }

    private sealed class ImageRow { public string Path { get; set; } = ""; }

    private static bool TorchAvailable()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("/usr/bin/python3", "-c \"import torch, torchvision\"") { RedirectStandardError = true })!;
            p.WaitForExit();
            return p.ExitCode == 0;
        }
        catch (Exception) { return false; }
    }

    internal string? ExportTorchvision(string arch)
    {
        string folder = Path.Combine(o.TorchCache, arch);
        if (File.Exists(Path.Combine(folder, "model.onnx")) && File.Exists(Path.Combine(folder, "model.json"))) return folder;
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { BenchOptions.Repo("tools", "export_torchvision.py"), arch, "--out", o.TorchCache }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardOutput.ReadToEnd();
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) { Console.Error.WriteLine($"  export of {arch} failed: {err}"); return null; }
        return folder;
    }

    private static double? TorchRate(string arch, int batch, List<string> paths)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(BenchOptions.Repo("tools", "bench_torch.py"));
        psi.ArgumentList.Add(arch);
        psi.ArgumentList.Add(batch.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (var f in paths) psi.ArgumentList.Add(f);
        using var p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd();
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) { Console.Error.WriteLine($"  PyTorch {arch} failed: {err}"); return null; }
        return JsonDocument.Parse(stdout).RootElement.GetProperty("images_per_second").GetDouble();
    }
}
