using System.Diagnostics;
using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using VacCnn.Contracts;
using VacCnn.Engine;
using VacCnn.Engine.Configuration;
using VacCnn.Engine.Explanations;
using VacCnn.Engine.Jobs;
using VacCnn.Engine.Store;
using VacCnn.TestSupport;
using VacCnn.Web.Hosting;
using static VacCnn.Bench.Table;

namespace VacCnn.Bench;

/// <summary>
/// Precompute throughput of one vs two worker processes (issue 12): for each, a fresh private PostgreSQL and data
/// folder, N <c>Role=worker</c> processes of the built host with every ONNX Runtime session limited to one thread
/// (<c>InferenceThreads=1</c>, one expensive-lane worker each), a warm-up batch on other images (sessions and
/// backward graphs built), then the timed batch: the two smallest shared models × Grad-CAM and Score-CAM × the
/// images. The ratio is explanations per second with two workers ÷ with one, measured in the same run.
/// </summary>
internal sealed class ClusterBenchmark(BenchOptions o)
{
    private static readonly string[] Models = ["mobilenet_v1_0.25_128_quant", "mobilenet_v1_0.5_160_quant"];
    private static readonly string[] Methods = ["gradcam", "scorecam"];

    public void Run()
    {
        if (PrivatePostgres.Unavailable() is { } why)
        {
            Console.WriteLine($"\n### Precompute on 1 vs 2 workers: skipped ({why})");
            return;
        }
        int timedImages = o.Quick ? 2 : 12, warmImages = 2;
        using var models = new TempDir("vaccnn-bench-cluster-models");
        using var images = new TempDir("vaccnn-bench-cluster-images");
        foreach (string id in Models) Directory.CreateSymbolicLink(models.Combine(id), Path.Combine(o.Models, id));
        var files = Directory.GetFiles(o.Samples).Order(StringComparer.Ordinal).Where((_, i) => i % 25 == 0).Take(timedImages + warmImages).ToList();
        foreach (string f in files) File.Copy(f, images.Combine(Path.GetFileName(f)));
        var names = files.Select(Path.GetFileName).OfType<string>().ToList();

        var rows = new List<string[]>();
        double? single = null;
        foreach (int workers in new[] { 1, 2 })
        {
            var (count, seconds, cores) = Measure(workers, models.Path, images.Path, names[..warmImages], names[warmImages..]);
            double rate = count / seconds;
            single ??= rate;
            rows.Add([workers.ToString(System.Globalization.CultureInfo.InvariantCulture), count.ToString(System.Globalization.CultureInfo.InvariantCulture),
                F(seconds, 2), F(rate, 2), F(rate / single.Value, 2), F(cores, 2)]);
            Console.Error.WriteLine($"  {workers} worker(s): {count} explanations in {seconds:F2} s");
        }
        Print($"Precompute throughput, {string.Join(" + ", Methods)} × {Models.Length} models × {timedImages} images, ONNX Runtime 1 thread per session" +
              (o.Quick ? " (QUICK MODE: figures meaningless)" : ""),
            ["worker processes", "explanations", "seconds", "explanations / s", "ratio vs 1 worker", "workers' CPU (cores busy)"], rows);
    }

    // User + system CPU time of a process (and its threads) from /proc, in seconds (clock ticks of 1/100 s).
    private static double CpuSeconds(Process p)
    {
        var fields = File.ReadAllText($"/proc/{p.Id}/stat").Split(')')[^1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return (long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture)) / 100.0;
    }

    private static (int Count, double Seconds, double Cores) Measure(int workers, string models, string images, IReadOnlyList<string> warm, IReadOnlyList<string> timed)
    {
        using var pg = PrivatePostgres.Start();
        using var data = new TempDir("vaccnn-bench-cluster-data");
        using var logs = new TempDir("vaccnn-bench-cluster-logs");
        var processes = new List<Process>();
        try
        {
            for (int i = 1; i <= workers; i++)
                processes.Add(HostProcess.Start($"worker{i}", models, images, data.Path, pg.ConnectionString, logs.Path, "worker", null,
                    "--VacCnn:InferenceThreads=1", "--VacCnn:ExplanationWorkers=1", "--VacCnn:InteractiveWorkers=1"));
            var options = new PostgreSqlStorageOptions { PrepareSchemaIfNecessary = false, SchemaName = VacCnnRoles.HangfireSchema, QueuePollInterval = TimeSpan.FromSeconds(1) };
            // The workers install Hangfire's schema; wait for their servers.
            var deadline = DateTime.UtcNow.AddMinutes(3);
            PostgreSqlStorage? storage = null;
            while (true)
            {
                if (processes.FirstOrDefault(p => p.HasExited) is { } dead)
                    throw new InvalidOperationException($"worker exited ({dead.ExitCode}):\n{HostProcess.AllTails(logs.Path)}");
                try
                {
                    storage ??= new PostgreSqlStorage(new NpgsqlConnectionFactory(pg.ConnectionString, options), options);
                    if (storage.GetMonitoringApi().Servers().Count(s => s.Name.Contains("-explain", StringComparison.Ordinal)) == workers) break;
                }
                catch (Exception e) when (e is Npgsql.NpgsqlException or InvalidOperationException) { storage = null; }
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"workers not up:\n{HostProcess.AllTails(logs.Path)}");
                Thread.Sleep(200);
            }

            using var engine = VacCnnEngine.Create(new VacCnnOptions
            {
                Models = models, Images = images, ImageNet = TestPaths.ImageNet, Data = data.Path, Plugins = TestPaths.Plugins,
                Device = ExecutionDevice.Cpu, Storage = VacCnnOptions.PostgresStorage, PostgreSql = pg.ConnectionString,
            });
            var client = new BackgroundJobClient(storage);
            var service = ExplanationService.Create(engine, new HangfireExplanationScheduler(client, storage, 32));
            var precompute = new ExplanationPrecompute(service, engine.Store, client);
            Run(precompute, engine.Store, warm);
            double cpu0 = processes.Sum(CpuSeconds);
            var clock = Stopwatch.StartNew();
            int count = Run(precompute, engine.Store, timed);
            double wall = clock.Elapsed.TotalSeconds;
            return (count, wall, (processes.Sum(CpuSeconds) - cpu0) / wall);
        }
        finally
        {
            HostProcess.StopAll(processes);
        }
    }

    private static int Run(ExplanationPrecompute precompute, ResultStore store, IReadOnlyList<string> images)
    {
        string id = precompute.Start(new PrecomputeSpec { Models = [.. Models], Methods = [.. Methods], Images = [.. images] });
        var deadline = DateTime.UtcNow.AddMinutes(20);
        BatchInfo batch;
        while ((batch = store.GetBatch(id)!).State == RunStates.Running)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"batch {id} still running: {batch.Done}/{batch.Total}");
            Thread.Sleep(50);
        }
        if (batch.Failed > 0) throw new InvalidOperationException($"batch {id}: {batch.Failed} failed: {string.Join("; ", store.BatchFailures(id))}");
        return batch.Done;
    }
}
