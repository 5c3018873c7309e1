using System.Globalization;
using VacCnn.Contracts;
using VacCnn.Engine.Analytics;
using VacCnn.Engine.Data;
using VacCnn.Engine.Plugins;
using VacCnn.Engine.Store;

namespace VacCnn.Cli;

/// <summary>
/// <c>vaccnn graph</c> and <c>vaccnn accuracy</c>: the class analytics of the finished runs in a data folder (the
/// latest finished run of each model), with the same cache files and JSON shapes as the web API.
/// </summary>
internal static class AnalyticsCommands
{
    private static readonly string[] SharedFlags = ["--data", "--imagenet", "--model"];
    private static readonly string[] TsneFlags = ["--perplexity", "--exaggeration", "--learning-rate", "--iterations", "--seed", "--init"];

    public static int Graph(CliArgs cli)
    {
        cli.RejectUnknown([.. SharedFlags, .. TsneFlags]);
        var (store, classes, runs) = Open(cli);
        var ids = cli.GetAll("--model");
        if (ids.Count != 1) throw new CliException("graph needs exactly one --model ID");
        var run = Select(runs, ids)[0];
        var options = new TsneOptions
        {
            Perplexity = cli.GetDouble("--perplexity", TsneOptions.Default.Perplexity),
            EarlyExaggeration = cli.GetDouble("--exaggeration", TsneOptions.Default.EarlyExaggeration),
            LearningRate = cli.GetDouble("--learning-rate", TsneOptions.Default.LearningRate),
            Iterations = cli.GetInt("--iterations", TsneOptions.Default.Iterations, 1, 100_000),
            Seed = cli.GetInt("--seed", 0, int.MinValue, int.MaxValue),
        };
        try
        {
            if (cli.Get("--init") is { } init) options = options with { Init = TsneOptions.ParseInit(init, "--init") };
            options.Validate();
        }
        catch (ArgumentException e) { throw new CliException(e.Message); }

        // With the class hierarchy, as the host has it: the graph is aligned to (or started from) the WordNet reference,
        // and a graph this command caches is the one the web pages serve.
        var analytics = new AnalyticsService(store, classes: classes);
        var queries = Queries(classes, analytics, runs, cards: null);
        bool progress = !cli.Has("--no-progress");
        var bar = new ProgressBar(run.ModelId, progress);
        var result = analytics.GetOrCompute(run, options, (fraction, what) => bar.Report(fraction, what));
        bar.Done();
        var view = queries.ToGraphView(result, analytics.Accuracy(run));
        if (cli.Has("--json")) { Output.WriteJson(view); return 0; }

        Console.Out.WriteLine($"{view.Model} (run {view.RunId}): {view.Points.Count} classes, {view.Missing.Count} without images; " +
            $"t-SNE perplexity {F(view.Perplexity, 2)}, exaggeration {F(options.EarlyExaggeration, 0)}, learning rate {F(options.LearningRate, 0)}, " +
            $"{options.Iterations} iterations, seed {options.Seed}, {options.InitName} start{(view.Aligned ? ", aligned to the WordNet reference" : "")}; " +
            $"KL {F(view.Kl ?? 0, 4)}, {view.RecallK}-NN recall {F(view.Recall ?? 0, 3)}");
        Output.WriteTable(["class", "wnid", "name", "root", "top-1", "x", "y"], view.Points.Select(p => (IReadOnlyList<string>)
        [
            I(p.Index), p.Wnid, p.Name, p.Root, p.Accuracy.ToString("P0", CultureInfo.InvariantCulture), F(p.X, 2), F(p.Y, 2),
        ]));
        return 0;
    }

    public static int Accuracy(CliArgs cli)
    {
        cli.RejectUnknown([.. SharedFlags, "--models", "--plugins", "--device"]);
        var (store, classes, runs) = Open(cli);
        var chosen = Select(runs, cli.GetAll("--model"));
        var cards = cli.Get("--models") is { } modelsDir ? LoadCards(modelsDir, cli) : null;
        var analytics = new AnalyticsService(store);
        var queries = Queries(classes, analytics, chosen, cards);
        var ids = chosen.Select(r => r.ModelId).ToList();
        var overview = queries.Overview();
        var perModel = ids.Select(id => queries.ModelClasses(id)).ToList();
        ComparisonView? range = null, average = null;
        AgreementView? agreement = null;
        string? agreementProblem = null;
        if (ids.Count >= 2)
        {
            range = queries.Range(ids);
            average = queries.Average(ids);
            try { agreement = queries.Agreement(ids); }
            catch (ArgumentException e) { agreementProblem = e.Message; }
        }
        if (cli.Has("--json"))
        {
            Output.WriteJson(new
            {
                roots = overview.Roots,
                models = overview.Models.Zip(perModel, (m, c) => new { m.Id, m.Name, m.Family, m.Parameters, m.Macs, m.Gflops, m.RunId, m.Images, m.Top1, m.Top5, m.PerRoot, classes = c.Classes }),
                range,
                average,
                agreement,
                agreementProblem,
            });
            return 0;
        }

        Output.WriteTable(["model", "images", "top-1", "top-5", "params (M)", "GFLOPs", .. overview.Roots], overview.Models.Select(m => (IReadOnlyList<string>)
        [
            m.Id, I(m.Images ?? 0), P(m.Top1), P(m.Top5),
            m.Parameters is long p ? F(p / 1e6, 2) : "", m.Gflops is double g ? F(g, 3) : "",
            .. overview.Roots.Select(r => m.PerRoot != null && m.PerRoot.TryGetValue(r, out double v) ? P(v) : ""),
        ]));
        if (perModel.Count == 1)
        {
            Console.Out.WriteLine();
            Console.Out.WriteLine($"Per class ({perModel[0].Model}), by top-1:");
            Output.WriteTable(["class", "wnid", "name", "root", "images", "top-1", "top-5"], perModel[0].Classes.Select(c => (IReadOnlyList<string>)
                [I(c.Index), c.Wnid, c.Name, c.Root, I(c.Images), P(c.Top1), P(c.Top5)]));
        }
        foreach (var (title, view) in new[] { ("Range of class accuracy", range), ("Average of class accuracy", average) })
        {
            if (view == null) continue;
            Console.Out.WriteLine();
            Console.Out.WriteLine($"{title} — {view.Rule}");
            Output.WriteTable(["kind", "class", "name", "root", "mean", "range", .. view.Models], view.Classes.Select(c => (IReadOnlyList<string>)
                [c.Kind, I(c.Index), c.Name, c.Root, P(c.Mean), P(c.Range), .. view.Models.Select(m => P(c.Accuracies[m]))]));
        }
        if (agreement != null)
        {
            Console.Out.WriteLine();
            Console.Out.WriteLine("Top-1 agreement (share of shared images on which both models predict the same class):");
            Output.WriteTable(["model", .. agreement.Models], agreement.Models.Select((m, a) => (IReadOnlyList<string>)
                [m, .. agreement.Matrix[a].Select(v => P(v))]));
        }
        else if (agreementProblem != null) Console.Error.WriteLine($"agreement not shown: {agreementProblem}");
        return 0;
    }

    private static (ResultStore Store, ImageNetClasses Classes, IReadOnlyList<RunInfo> Runs) Open(CliArgs cli)
    {
        string data = cli.Get("--data") ?? Environment.GetEnvironmentVariable("VacCnn__Data") ?? "";
        if (string.IsNullOrWhiteSpace(data)) throw new CliException("missing --data DIR (the folder `vaccnn evaluate` wrote to)");
        if (!Directory.Exists(data) || !File.Exists(Path.Combine(data, "vaccnn.db")))
            throw new CliException($"--data '{data}' holds no VacCnn results (no vaccnn.db); run vaccnn evaluate first");
        var store = new ResultStore(data);
        var runs = store.LatestFinishedRuns();
        if (runs.Count == 0) throw new CliException($"no finished evaluation in '{data}'; run vaccnn evaluate first");
        return (store, ImageNetClasses.Load(ImageNetFolder(cli, runs)), runs);
    }

    // --imagenet, else VacCnn__ImageNet, else an imagenet folder beside the models or an evaluated image set (the demo layout).
    private static string ImageNetFolder(CliArgs cli, IReadOnlyList<RunInfo> runs)
    {
        string? given = cli.Get("--imagenet") ?? Environment.GetEnvironmentVariable("VacCnn__ImageNet");
        if (!string.IsNullOrWhiteSpace(given))
            return Directory.Exists(given) ? given : throw new CliException($"--imagenet '{given}' is not a folder");
        var near = new[] { cli.Get("--models") }.Concat(runs.Select(r => r.ImagesRoot)).OfType<string>();
        foreach (string folder in near)
        {
            string guess = Path.GetFullPath(Path.Combine(folder, "..", "imagenet"));
            if (File.Exists(Path.Combine(guess, ImageNetClasses.ClassIndexFile))) return guess;
        }
        throw new CliException("missing --imagenet DIR (class index and WordNet hierarchy)");
    }

    private static List<RunInfo> Select(IReadOnlyList<RunInfo> runs, IReadOnlyList<string> ids)
    {
        if (ids.Count == 0) return [.. runs];
        if (ids.Distinct(StringComparer.Ordinal).Count() != ids.Count) throw new CliException("a --model is given twice");
        return ids.Select(id => runs.FirstOrDefault(r => r.ModelId == id)
            ?? throw new CliException($"no finished evaluation of model '{id}' (evaluated: {string.Join(", ", runs.Select(r => r.ModelId))})")).ToList();
    }

    private static AnalyticsQueries Queries(ImageNetClasses classes, AnalyticsService analytics, IReadOnlyList<RunInfo> runs, IReadOnlyDictionary<string, ModelCard>? cards)
    {
        var models = runs.Select(r => new AnalyticsModel(r.ModelId, cards?.GetValueOrDefault(r.ModelId), r)).ToList();
        return new AnalyticsQueries(classes, analytics, () => models);
    }

    // Model cards (parameters, FLOPs) for the complexity columns; models that fail to load just lack them.
    private static Dictionary<string, ModelCard> LoadCards(string modelsDir, CliArgs cli)
    {
        if (!Directory.Exists(modelsDir)) throw new CliException($"--models '{modelsDir}' is not a folder");
        string plugins = cli.Get("--plugins") ?? Environment.GetEnvironmentVariable("VacCnn__Plugins") ?? Engine.VacCnnEngine.DefaultPluginsFolder() ?? "";
        using var catalog = PluginCatalog.Load(plugins);
        using var registry = ModelRegistry.Discover(catalog.ModelSources, modelsDir, ExecutionDevice.Cpu, line => Console.Error.WriteLine(line));
        return registry.Classifiers.ToDictionary(c => c.Card.Id, c => c.Card);
    }

    private static string F(double v, int digits) => v.ToString("F" + digits, CultureInfo.InvariantCulture);
    private static string I(int v) => v.ToString(CultureInfo.InvariantCulture);
    private static string P(double? v) => v is double d ? d.ToString("P1", CultureInfo.InvariantCulture) : "";
}
