using System.Diagnostics;
using VacCnn.Contracts;
using VacCnn.Engine.Data;
using VacCnn.Engine.Evaluation;
using VacCnn.Engine.Plugins;
using VacCnn.Engine.Store;
using VacCnn.Models.Onnx;
using static VacCnn.Bench.Table;

namespace VacCnn.Bench;

/// <summary>
/// The scale run of issue 14: an ImageFolder of <c>--scale-images</c> images (the 1000 samples linked again and
/// again under a temporary folder, so the image set is real JPEGs and never copied) evaluated with all shared models
/// in shared passes; images/s, peak memory of this process, and the time projected for the paper's 13 models ×
/// 50,000 images. Run it at two sizes (two processes) to see whether memory grows with the image count.
/// </summary>
internal sealed class ScaleBenchmark(BenchOptions o)
{
    public void Run()
    {
        var classes = ImageNetClasses.Load(o.ImageNet);
        var samples = ImageSet.Open(o.Samples, classes).Images;
        string folder = Path.Combine(Path.GetTempPath(), $"vaccnn-bench-scale-{Environment.ProcessId}");
        string data = Path.Combine(Path.GetTempPath(), $"vaccnn-bench-scale-data-{Environment.ProcessId}");
        try
        {
            // ImageFolder layout: one folder per class (the wnid), file names made unique per copy.
            for (int i = 0; i < o.ScaleImages; i++)
            {
                var s = samples[i % samples.Count];
                string dir = Path.Combine(folder, s.Wnid);
                Directory.CreateDirectory(dir);
                File.CreateSymbolicLink(Path.Combine(dir, $"{i / samples.Count:D3}-{Path.GetFileName(s.Path)}"), s.Path);
            }
            var set = ImageSet.Open(folder, classes);
            var loaded = new OnnxModelSource().Discover(new ModelSourceContext(o.Models, ExecutionDevice.Cpu, _ => { }))
                .Where(r => r.Classifier != null).ToList();
            using var registry = ModelRegistry.FromResults(o.Models, loaded);
            var ids = registry.Classifiers.Select(c => c.Card.Id).ToList();
            double macs = registry.Classifiers.Sum(c => (double)c.Card.MultiplyAccumulates);
            Console.Error.WriteLine($"[scale] {ids.Count} models over {set.Images.Count} images ({set.Unlabelled.Count} unlabelled)…");
            var service = new EvaluationService(registry, new ResultStore(data), classes, shardSize: 250, batchSize: 16);

            long peakDuringPasses = 0;
            using var sampler = new Timer(_ => peakDuringPasses = Math.Max(peakDuringPasses, Environment.WorkingSet), null, 0, 200);
            var sw = Stopwatch.StartNew();
            int reported = 0;
            service.Evaluate(ids, set, p =>
            {
                int done = p.ShardsDone;
                if (p.Run.ModelId == ids[0] && done != reported && done % 20 == 0)
                {
                    reported = done;
                    Console.Error.WriteLine($"  {done}/{p.Run.ShardCount} shards, {sw.Elapsed.TotalSeconds:F0} s, working set {Environment.WorkingSet / 1e6:F0} MB");
                }
            });
            double seconds = sw.Elapsed.TotalSeconds;
            double rate = set.Images.Count / seconds;
            // Projection: the same per-image cost scaled by the models' multiply-accumulates (the paper's 13 models
            // are given in GMACs by torchvision; here: this run's cost per image per model, times 13 × 50,000).
            double perModelImage = seconds / (set.Images.Count * (double)ids.Count);
            Print($"Scale run: {ids.Count} models × {set.Images.Count} images, shared passes (CPU, {Environment.ProcessorCount} cores)",
                ["images", "seconds", "images/s (all models)", "model-images/s", "peak working set (MB)", "peak during passes (MB)", "13 × 50,000 at this rate (h)"],
                [[set.Images.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), F(seconds, 0), F(rate, 1), F(rate * ids.Count, 1),
                  F(Process.GetCurrentProcess().PeakWorkingSet64 / 1e6, 0), F(peakDuringPasses / 1e6, 0), F(perModelImage * 13 * 50_000 / 3600, 1)]]);
            Console.WriteLine($"(mean {macs / ids.Count / 1e9:F2} GMACs per model here; the paper's 13 torchvision models are larger, so read the projection as a lower bound)");
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
            if (Directory.Exists(data)) Directory.Delete(data, recursive: true);
        }
    }
}
