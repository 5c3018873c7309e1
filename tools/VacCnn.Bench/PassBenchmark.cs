using System.Diagnostics;
using System.Text.Json;
using VacCnn.Contracts;
using VacCnn.Engine.Data;
using VacCnn.Engine.Evaluation;
using VacCnn.Engine.Plugins;
using VacCnn.Engine.Store;
using VacCnn.Models.Onnx;
using static VacCnn.Bench.Table;

namespace VacCnn.Bench;

/// <summary>
/// Evaluating many models (issue 14): all shared models in one pass per shard vs the smallest model alone and vs
/// one model after another (today's per-model runs), end-to-end vs raw inference, and preprocessing per core beside
/// PIL's (same images, same run). Fresh stores for every measurement.
/// </summary>
internal sealed class PassBenchmark(BenchOptions o)
{
    private readonly ModelSourceContext _context = new(o.Models, ExecutionDevice.Cpu, _ => { });

    public void Run()
    {
        var classes = ImageNetClasses.Load(o.ImageNet);
        var set = ImageSet.Open(o.Samples, classes);
        var images = set.Images.Take(o.ImageCount).ToList();
        string folder = Path.Combine(Path.GetTempPath(), $"vaccnn-bench-pass-{Environment.ProcessId}");
        Directory.CreateDirectory(folder);
        try
        {
            // A subset of the samples (symbolic links: the image set is read, never copied).
            foreach (var i in images) File.CreateSymbolicLink(Path.Combine(folder, Path.GetFileName(i.Path)), i.Path);
            var subset = ImageSet.Open(folder, classes);
            var loaded = new OnnxModelSource().Discover(_context).Where(r => r.Classifier != null).ToList();
            var registry = ModelRegistry.FromResults(o.Models, loaded);
            var ids = registry.Classifiers.Select(c => c.Card.Id).ToList();
            string smallest = registry.Classifiers.MinBy(c => c.Card.MultiplyAccumulates)!.Card.Id;
            Console.Error.WriteLine($"[passes] {ids.Count} models, {subset.Images.Count} images; smallest {smallest}");

            // Warm every session once (first-run allocations are not part of any figure).
            foreach (var c in registry.Classifiers)
                c.PredictProbabilities(new ImagePreprocessor(c.Card.Preprocessing).Preprocess([subset.Images[0].Path]).Tensor);

            double small = Time(registry, classes, s => s.Evaluate(smallest, subset));
            double together = Time(registry, classes, s => s.Evaluate(ids, subset));
            double oneByOne = o.Quick ? double.NaN : Time(registry, classes, s => { foreach (var id in ids) s.Evaluate(id, subset); });
            double raw = ids.Sum(id => RawSeconds(registry.Get(id), subset));
            Print($"All {ids.Count} shared models over {subset.Images.Count} samples (CPU, {Environment.ProcessorCount} cores, seconds)",
                ["measurement", "seconds", "÷ smallest alone"],
                [
                    [$"smallest alone ({smallest})", F(small, 2), "1.00"],
                    [$"all {ids.Count}, one pass per shard", F(together, 2), F(together / small, 2)],
                    [$"all {ids.Count}, one model after another", F(oneByOne, 2), F(oneByOne / small, 2)],
                    [$"raw inference of all {ids.Count} (pre-decoded tensors, batch 16)", F(raw, 2), F(raw / small, 2)],
                ]);
            Console.WriteLine($"end-to-end ÷ raw inference, all models together: {F(together / raw, 2)}");

            // Preprocessing per core: one worker, one thread, the 224/256 ImageNet recipe (PIL's transforms).
            var paths = subset.Images.Select(i => i.Path).ToList();
            var spec = registry.Classifiers.First(c => c.Card.Preprocessing is { CropWidth: 224, ResizeShorterSide: 256 }).Card.Preprocessing;
            var pre = new ImagePreprocessor(spec) { DegreeOfParallelism = 1 };
            pre.Preprocess(paths.Take(16).ToList());
            var sw = Stopwatch.StartNew();
            foreach (var chunk in paths.Chunk(64)) pre.Preprocess(chunk);
            double ours = paths.Count / sw.Elapsed.TotalSeconds;
            double? pil = PilRate(paths);
            Print("Preprocessing per core (decode + resize 256 + crop 224 + normalise; images/s, one thread)",
                ["VacCnn", "PIL + torchvision", "VacCnn ÷ PIL"],
                [[F(ours), pil is { } p ? F(p) : "n/a", pil is { } q ? F(ours / q, 2) : "n/a"]]);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    /// <summary>Seconds of <paramref name="work"/> on a fresh store.</summary>
    private static double Time(ModelRegistry registry, ImageNetClasses classes, Action<EvaluationService> work)
    {
        string data = Path.Combine(Path.GetTempPath(), $"vaccnn-bench-data-{Guid.NewGuid():N}");
        try
        {
            var service = new EvaluationService(registry, new ResultStore(data), classes, shardSize: 100, batchSize: 16);
            var sw = Stopwatch.StartNew();
            work(service);
            return sw.Elapsed.TotalSeconds;
        }
        finally { Directory.Delete(data, recursive: true); }
    }

    /// <summary>Seconds of inference alone (batch 16) over the images, decoded beforehand.</summary>
    private static double RawSeconds(IClassifier c, ImageSet set)
    {
        var batches = set.Images.Select(i => i.Path).Chunk(16)
            .Select(chunk => new ImagePreprocessor(c.Card.Preprocessing).Preprocess(chunk).Tensor).ToList();
        var sw = Stopwatch.StartNew();
        foreach (var b in batches) c.PredictProbabilities(b);
        return sw.Elapsed.TotalSeconds;
    }

    private static double? PilRate(List<string> paths)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(BenchOptions.Repo("tools", "bench_pil_preprocess.py"));
        foreach (var f in paths) psi.ArgumentList.Add(f);
        try
        {
            using var p = Process.Start(psi)!;
            string stdout = p.StandardOutput.ReadToEnd();
            string err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) { Console.Error.WriteLine($"  PIL baseline failed: {err}"); return null; }
            return JsonDocument.Parse(stdout).RootElement.GetProperty("images_per_second").GetDouble();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or JsonException)
        {
            Console.Error.WriteLine($"  PIL baseline unavailable: {e.Message}");
            return null;
        }
    }
}
