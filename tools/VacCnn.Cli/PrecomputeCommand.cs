using System.Globalization;
using Hangfire;
using Hangfire.InMemory;
using VacCnn.Engine;
using VacCnn.Engine.Explanations;
using VacCnn.Engine.Jobs;
using VacCnn.Engine.Store;

namespace VacCnn.Cli;

/// <summary>
/// vaccnn precompute: a precompute batch run by the same Hangfire jobs as the web host's (an in-process server on the
/// precompute queue), into the same data folder (or PostgreSQL store), so the web host serves its maps at once. The
/// batch is recorded item by item: interrupted (Ctrl-C, a kill), the same command resumes where it stopped.
/// </summary>
internal static class PrecomputeCommand
{
    public const string Usage = """
          vaccnn precompute --models DIR --images DIR --data DIR --model ID... --method ID... [--class N]... [--image ID]...
                 [--seed N] [--workers N] [--json]
            (models × methods over the images of the classes given, or the images given, or every image; each image
             for its labelled class; finished explanations are not recomputed)
        """;

    public static int Run(CliArgs cli)
    {
        Commands.RejectUnknown(cli, "--model", "--method", "--class", "--image", "--seed", "--workers");
        var o = Commands.OptionsFrom(cli);
        if (string.IsNullOrWhiteSpace(o.Data)) throw new CliException("missing --data DIR (where explanations are stored)");
        if (!Directory.Exists(o.Images)) throw new CliException($"--images: no folder '{o.Images}'");
        var spec = new PrecomputeSpec
        {
            Models = [.. List(cli, "--model")],
            Methods = [.. List(cli, "--method")],
            Images = [.. List(cli, "--image")],
            Seed = cli.GetInt("--seed", 0, int.MinValue, int.MaxValue),
        };
        foreach (string c in List(cli, "--class"))
            spec.Classes.Add(int.TryParse(c, NumberStyles.Integer, CultureInfo.InvariantCulture, out int k) ? k : throw new CliException($"--class must be a class index, got '{c}'"));
        int workers = cli.GetInt("--workers", 1, 1, 64);

        using var engine = VacCnnEngine.Create(o, line => Console.Error.WriteLine(line), needImages: true);
        var storage = new InMemoryStorage();
        var client = new BackgroundJobClient(storage);
        var service = ExplanationService.Create(engine, new HangfireExplanationScheduler(client, storage, o.ExplanationQueueCapacity));
        var precompute = new ExplanationPrecompute(service, engine.Store, client);
        string id = precompute.Start(spec);
        var bar = new ProgressBar($"batch {id}", !cli.Has("--no-progress"));
        using (var stop = new CancellationTokenSource())
        using (new BackgroundJobServer(new BackgroundJobServerOptions
        {
            WorkerCount = workers, Queues = [ExplanationLanes.PrecomputeQueue], ServerName = "vaccnn-cli",
            Activator = new InstanceActivator(precompute), SchedulePollingInterval = TimeSpan.FromSeconds(1),
        }, storage))
        {
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
            BatchInfo batch;
            int shown = -1;
            while ((batch = engine.Store.GetBatch(id)!).State == RunStates.Running && !stop.IsCancellationRequested)
            {
                if (batch.Done + batch.Failed != shown) // a line per finished explanation, not per poll
                    bar.Report(batch.Total == 0 ? 0 : (batch.Done + batch.Failed) / (double)batch.Total, Detail(batch), force: true);
                shown = batch.Done + batch.Failed;
                stop.Token.WaitHandle.WaitOne(250);
            }
            if (stop.IsCancellationRequested)
            {
                bar.Done();
                Console.Error.WriteLine($"vaccnn: stopped; {batch.Done} of {batch.Total} explanations are stored, the same command resumes batch {id}");
                return 130;
            }
        }
        var final = engine.Store.GetBatch(id)!;
        bar.Report(1, Detail(final), force: true);
        bar.Done();
        var failures = engine.Store.BatchFailures(id);
        if (cli.Has("--json"))
            Output.WriteJson(new { batch = id, state = final.State, total = final.Total, done = final.Done, failed = final.Failed, perSecond = final.Rate,
                failures = failures.Select(f => new { item = f.Item, error = f.Error }) });
        else
        {
            Output.WriteTable(["batch", "state", "done", "failed", "per second"], [[id, final.State,
                $"{final.Done} / {final.Total}", final.Failed.ToString(CultureInfo.InvariantCulture),
                final.Rate is double r ? r.ToString("F2", CultureInfo.InvariantCulture) : "—"]]);
            foreach (var (item, error) in failures) Console.Error.WriteLine($"failed: {item}: {error}");
        }
        return final.State == RunStates.Done ? 0 : 1;
    }

    private static string Detail(BatchInfo b) => string.Create(CultureInfo.InvariantCulture,
        $"{b.Done + b.Failed}/{b.Total} explanations{(b.Failed > 0 ? $", {b.Failed} failed" : "")}" +
        $"{(b.Rate is double r ? $", {r:F2}/s" : "")}{(b.Eta is TimeSpan eta ? $", ETA {eta:hh\\:mm\\:ss}" : "")}");

    // Repeated flags and comma lists alike: --model a --model b or --model a,b.
    private static IEnumerable<string> List(CliArgs cli, string flag) =>
        cli.GetAll(flag).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
