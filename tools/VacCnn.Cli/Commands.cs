using System.Globalization;
using VacCnn.Contracts;
using VacCnn.Engine;
using VacCnn.Engine.Configuration;
using VacCnn.Engine.Data;
using VacCnn.Engine.Evaluation;
using VacCnn.Engine.Plugins;
using VacCnn.Engine.Store;

namespace VacCnn.Cli;

/// <summary>The CLI verbs. Each maps flags onto <see cref="VacCnnOptions"/> and calls the engine.</summary>
internal static class Commands
{
    private static readonly string[] CommonFlags = ["--models", "--images", "--imagenet", "--data", "--plugins", "--device", "--shard-size", "--batch-size", "--storage", "--postgres"];

    public static int Help()
    {
        Console.Out.WriteLine("""
            vaccnn — compare ImageNet CNN classifiers

              vaccnn plugins [--plugins DIR] [--json]
              vaccnn models --models DIR [--json]
              vaccnn classify --models DIR --model ID [--top K] IMAGE... [--json]
              vaccnn evaluate --models DIR --images DIR --data DIR [--model ID]... [--json]
              vaccnn roots --imagenet DIR [--json]
              vaccnn graph --data DIR --model ID [--perplexity P --exaggeration E --learning-rate L --iterations N --seed S --init random|reference] [--json]
              vaccnn accuracy --data DIR [--model ID]... [--models DIR] [--json]

            Common flags: --imagenet DIR (class index + WordNet; default: <models>/../imagenet),
              --plugins DIR (default: artifacts/plugins of this checkout), --device auto|cpu|cuda,
              --shard-size N, --batch-size N, --storage embedded|postgres with --postgres CONNECTION (a shared
              multi-worker store). Environment variables VacCnn__Models, VacCnn__Images, VacCnn__ImageNet,
              VacCnn__Data, VacCnn__Plugins, VacCnn__Storage and VacCnn__PostgreSql give defaults for the flags.
            """);
        Console.Out.WriteLine(ExplainCommands.Usage);
        Console.Out.WriteLine(PrecomputeCommand.Usage);
        return 0;
    }

    /// <summary>Options from flags, falling back to VacCnn__* environment variables.</summary>
    internal static VacCnnOptions OptionsFrom(CliArgs cli)
    {
        string Env(string key) => Environment.GetEnvironmentVariable("VacCnn__" + key) ?? "";
        var o = new VacCnnOptions
        {
            Models = cli.Get("--models") ?? Env("Models"),
            Images = cli.Get("--images") ?? Env("Images"),
            ImageNet = cli.Get("--imagenet") ?? Env("ImageNet"),
            Data = cli.Get("--data") ?? Env("Data"),
            Plugins = cli.Get("--plugins") ?? Env("Plugins"),
            ShardSize = cli.GetInt("--shard-size", 100, 1, 100_000),
            BatchSize = cli.GetInt("--batch-size", 16, 1, 1024),
            // The shared PostgreSQL store of a multi-worker install (the CLI then evaluates as one more worker).
            Storage = cli.Get("--storage") ?? (Env("Storage") is { Length: > 0 } storage ? storage : VacCnnOptions.EmbeddedStorage),
            PostgreSql = cli.Get("--postgres") ?? Env("PostgreSql"),
        };
        string device = cli.Get("--device") ?? "auto";
        o.Device = Enum.TryParse<ExecutionDevice>(device, ignoreCase: true, out var d)
            ? d : throw new CliException($"--device must be auto, cpu or cuda, got '{device}'");
        if (string.IsNullOrEmpty(o.ImageNet) && o.Models.Length > 0)
        {
            string guess = Path.Combine(o.Models, "..", "imagenet");
            if (Directory.Exists(guess)) o.ImageNet = Path.GetFullPath(guess);
        }
        if (string.IsNullOrEmpty(o.Plugins)) o.Plugins = VacCnnEngine.DefaultPluginsFolder() ?? "";
        return o;
    }

    private static void Log(string line) => Console.Error.WriteLine(line);

    internal static void RejectUnknown(CliArgs cli, params string[] extra) => cli.RejectUnknown([.. CommonFlags, .. extra]);

    private static string RequireFolder(string value, string flag)
    {
        if (string.IsNullOrWhiteSpace(value)) throw new CliException($"missing {flag} DIR");
        if (!Directory.Exists(value)) throw new CliException($"{flag} '{value}' is not a folder");
        return value;
    }

    public static int Plugins(CliArgs cli)
    {
        RejectUnknown(cli);
        var o = OptionsFrom(cli);
        using var catalog = PluginCatalog.Load(o.Plugins);
        var rows = catalog.Plugins.Select(p => new
        {
            name = p.Name,
            folder = p.Folder,
            status = p.Error == null ? "loaded" : "failed",
            error = p.Error,
            modelSources = p.ModelSources.Select(s => s.Name).ToList(),
            explainers = p.Explainers.Select(e => e.Id).ToList(),
            metrics = p.Metrics.Select(m => m.Id).ToList(),
        }).ToList();
        if (cli.Has("--json")) Output.WriteJson(new { folder = catalog.Folder, plugins = rows });
        else
        {
            Console.Out.WriteLine($"plugins folder: {catalog.Folder ?? "(none)"}");
            Output.WriteTable(["plugin", "status", "provides", "error"], rows.Select(r => (IReadOnlyList<string>)
            [
                r.name, r.status,
                string.Join(", ", r.modelSources.Select(s => "models:" + s).Concat(r.explainers.Select(e => "explainer:" + e)).Concat(r.metrics.Select(m => "metric:" + m))),
                r.error ?? "",
            ]));
        }
        return catalog.Plugins.Any(p => p.Error != null) ? 1 : 0;
    }

    internal static (PluginCatalog, ModelRegistry) LoadModels(VacCnnOptions o)
    {
        RequireFolder(o.Models, "--models");
        var catalog = PluginCatalog.Load(o.Plugins);
        if (!catalog.ModelSources.Any())
            throw new CliException($"no model source plugin found in '{o.Plugins}' (build the solution first: dotnet build)");
        return (catalog, ModelRegistry.Discover(catalog.ModelSources, o.Models, o.Device, Log));
    }

    public static int Models(CliArgs cli)
    {
        RejectUnknown(cli);
        var o = OptionsFrom(cli);
        var (catalog, registry) = LoadModels(o);
        using (catalog)
        using (registry)
        {
            var rows = registry.Results.Select(r => new
            {
                id = r.Id,
                status = r.Error == null ? "loaded" : "failed",
                name = r.Classifier?.Card.DisplayName,
                family = r.Classifier?.Card.Family,
                parameters = r.Classifier?.Card.Parameters,
                gflops = r.Classifier is { } c ? Math.Round(c.Card.GigaFlops, 4) : (double?)null,
                input = r.Classifier is { } c2 ? $"{c2.Card.Preprocessing.CropWidth}x{c2.Card.Preprocessing.CropHeight}" : null,
                classes = r.Classifier?.Card.ClassCount,
                warnings = r.Classifier?.Card.Warnings.Count > 0 ? r.Classifier.Card.Warnings : null,
                error = r.Error,
                location = r.Location,
            }).ToList();
            if (cli.Has("--json")) Output.WriteJson(rows);
            else
                Output.WriteTable(["id", "status", "family", "params (M)", "GFLOPs", "input", "note"], rows.Select(r => (IReadOnlyList<string>)
                [
                    r.id, r.status, r.family ?? "",
                    r.parameters is long p ? (p / 1e6).ToString("F2", CultureInfo.InvariantCulture) : "",
                    r.gflops?.ToString("F3", CultureInfo.InvariantCulture) ?? "", r.input ?? "",
                    r.error ?? (r.warnings != null ? string.Join("; ", r.warnings) : ""),
                ]));
            return registry.Failures.Any() ? 1 : 0;
        }
    }

    public static int Classify(CliArgs cli)
    {
        RejectUnknown(cli, "--model", "--top");
        var o = OptionsFrom(cli);
        string modelId = cli.Require("--model", "model id; see vaccnn models");
        int top = cli.GetInt("--top", 5, 1, 1000);
        if (cli.Positional.Count == 0) throw new CliException("no IMAGE given");
        foreach (var f in cli.Positional)
            if (!File.Exists(f)) throw new CliException($"image '{f}' does not exist");
        RequireFolder(o.ImageNet, "--imagenet");
        var classes = ImageNetClasses.Load(o.ImageNet);
        var (catalog, registry) = LoadModels(o);
        using (catalog)
        using (registry)
        {
            var model = registry.Get(modelId);
            var batch = new ImagePreprocessor(model.Card.Preprocessing).Preprocess(cli.Positional);
            var probs = batch.Decoded.Count > 0 ? model.PredictProbabilities(batch.Tensor) : null;
            int n = model.Card.ClassCount;
            var results = new List<ClassifyResult>();
            var decoded = batch.Decoded.ToList();
            for (int i = 0; i < cli.Positional.Count; i++)
            {
                int row = decoded.IndexOf(i);
                if (row < 0)
                {
                    results.Add(new ClassifyResult(cli.Positional[i], null, batch.Skipped.First(s => s.Position == i).Reason));
                    continue;
                }
                var p = probs!.Data.AsSpan(row * n, n).ToArray();
                var best = AccuracyCalculator.TopK(p, top).Select(k => new TopClass(k,
                    k < classes.Classes.Count ? classes.Classes[k].Wnid : "",
                    k < classes.Classes.Count ? classes.Classes[k].Label : $"class {k}",
                    Math.Round(p[k], 6))).ToList();
                results.Add(new ClassifyResult(cli.Positional[i], best, null));
            }
            if (cli.Has("--json")) Output.WriteJson(results);
            else
                foreach (var r in results)
                {
                    Console.Out.WriteLine(r.Image);
                    if (r.Top == null) Console.Out.WriteLine($"  skipped: {r.Error}");
                    else foreach (var t in r.Top) Console.Out.WriteLine($"  {t.Probability,9:P2}  {t.Index,4}  {t.Wnid}  {t.Label}");
                }
            return batch.Skipped.Count > 0 ? 1 : 0;
        }
    }

    private sealed record TopClass(int Index, string Wnid, string Label, double Probability);
    private sealed record ClassifyResult(string Image, List<TopClass>? Top, string? Error);

    public static int Evaluate(CliArgs cli)
    {
        RejectUnknown(cli, "--model");
        var o = OptionsFrom(cli);
        RequireFolder(o.Models, "--models");
        RequireFolder(o.Images, "--images");
        if (string.IsNullOrWhiteSpace(o.Data)) throw new CliException("missing --data DIR (where results are stored)");
        using var engine = VacCnnEngine.Create(o, Log, needImages: true);
        var images = ImageSet.Open(o.Images, engine.Classes);
        foreach (var u in images.Unlabelled) Log($"unlabelled: {u.RelativePath}: {u.Reason}");
        var ids = cli.GetAll("--model").Count > 0 ? cli.GetAll("--model").ToList() : engine.Models.Classifiers.Select(c => c.Card.Id).ToList();
        if (ids.Count == 0) throw new CliException($"no loadable model under '{o.Models}'");
        var summaries = new List<EvaluateRow>();
        bool progress = !cli.Has("--no-progress");
        foreach (var id in ids) engine.Models.Get(id); // clear error for an unknown id before any work
        // All models in one pass over the images per shard: each image is decoded once for every model.
        var bar = new ProgressBar(ids.Count == 1 ? ids[0] : $"{ids.Count} models", progress);
        var latest = new Dictionary<string, RunProgress>(StringComparer.Ordinal);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var results = engine.Evaluation.Evaluate(ids, images, p =>
        {
            latest[p.Run.RunId] = p;
            double fraction = latest.Values.Sum(x => x.Fraction) / ids.Count;
            int done = latest.Values.Sum(x => x.ImagesDone + x.Skipped), total = ids.Count * p.Run.TotalImages;
            double rate = done / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
            string eta = fraction is > 0 and < 1
                ? TimeSpan.FromSeconds(clock.Elapsed.TotalSeconds * (1 - fraction) / fraction).ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture) : "?";
            bar.Report(fraction, $"{done}/{total} model-images, {rate:F1}/s, ETA {eta}, {latest.Values.Sum(x => x.Skipped)} skipped", force: true);
        });
        bar.Done();
        foreach (var s in results)
            summaries.Add(new EvaluateRow(s.Model, s.Images, s.Skipped, Math.Round(s.Top1, 6), Math.Round(s.Top5, 6),
                s.PerRoot.ToDictionary(k => k.Key, k => Math.Round(k.Value, 6)), s.RunId, engine.Store.ConfidencePath(s.RunId)));
        if (cli.Has("--json")) Output.WriteJson(summaries);
        else
            Output.WriteTable(["model", "images", "skipped", "top-1", "top-5", "per root (top-1)"], summaries.Select(s => (IReadOnlyList<string>)
            [
                s.Model, s.Images.ToString(CultureInfo.InvariantCulture), s.Skipped.ToString(CultureInfo.InvariantCulture),
                s.Top1.ToString("P1", CultureInfo.InvariantCulture), s.Top5.ToString("P1", CultureInfo.InvariantCulture),
                string.Join(", ", s.PerRoot.Select(kv => $"{kv.Key} {kv.Value.ToString("P0", CultureInfo.InvariantCulture)}")),
            ]));
        return 0;
    }

    private sealed record EvaluateRow(string Model, int Images, int Skipped, double Top1, double Top5,
        Dictionary<string, double> PerRoot, string Run, string Matrix);

    public static int Roots(CliArgs cli)
    {
        RejectUnknown(cli);
        var o = OptionsFrom(cli);
        RequireFolder(o.ImageNet, "--imagenet");
        var classes = ImageNetClasses.Load(o.ImageNet);
        if (cli.Has("--json"))
            Output.WriteJson(classes.Classes.Select(c => new { index = c.Index, wnid = c.Wnid, root = c.Root }));
        else
        {
            Output.WriteTable(["root", "classes"], RootClasses.Names.Select(r => (IReadOnlyList<string>)
                [r, classes.Classes.Count(c => c.Root == r).ToString(CultureInfo.InvariantCulture)]));
        }
        return 0;
    }
}
