using System.Diagnostics;
using System.Globalization;
using VacCnn.Contracts;
using VacCnn.Engine;
using VacCnn.Engine.Data;
using VacCnn.Engine.Explanations;
using VacCnn.Engine.Store;

namespace VacCnn.Cli;

/// <summary>explain, similarity and layers: the same <see cref="ExplanationRunner"/> as the web service.</summary>
internal static class ExplainCommands
{
    public const string Usage = """

        Explanations (heatmap PNG with contours, .npy map; similarity matrix of several models' maps):
          vaccnn explain --models DIR --model ID --method ID [--class N] [--layer NAME] [--threshold T]
                 [--seed N] [--set NAME=VALUE]... [--colormap viridis|inferno|jet] IMAGE --out FILE.png [--map FILE.npy]
                 [--quality-steps N] [--json]
            (also measures deletion/insertion AUC with N steps, default 16, 0 = skip: 2N+1 forward passes)
          vaccnn similarity --models DIR --model A --model B ... --method ID --metric ID [--class N] IMAGE [--csv FILE.csv] [--json]
          vaccnn layers --models DIR --model ID [--json]
        """;

    private static readonly string[] RunFlags = ["--model", "--method", "--class", "--seed", "--set"];

    public static int Explain(CliArgs cli)
    {
        Commands.RejectUnknown(cli, [.. RunFlags, "--layer", "--threshold", "--out", "--map", "--colormap", "--quality-steps"]);
        string modelId = cli.Require("--model", "model id; see vaccnn models");
        string method = cli.Require("--method", "explanation method; see vaccnn plugins");
        string output = cli.Require("--out", "PNG file to write the heatmap to");
        string image = OneImage(cli);
        double threshold = cli.GetDouble("--threshold", 0.5, 0, 1);
        int qualitySteps = cli.GetInt("--quality-steps", DeletionInsertion.DefaultSteps, 0, DeletionInsertion.MaxSteps);
        var options = new HeatmapOptions(Threshold: threshold, Colormap: cli.Get("--colormap") ?? "viridis");
        try { options.Validate(); }
        catch (ArgumentException e) { throw new CliException(e.Message); }
        var o = Commands.OptionsFrom(cli);
        var classes = TryClasses(o.ImageNet);
        var (catalog, registry) = Commands.LoadModels(o);
        using (catalog)
        using (registry)
        {
            var runner = new ExplanationRunner(registry, catalog.Explainers, qualitySteps);
            var what = Resolve(runner, modelId, method, cli, cli.Get("--layer"));
            var result = Run(runner, what, image, !cli.Has("--no-progress"), $"{modelId} {method}");
            using (var picture = ImageFiles.LoadRgb(image))
            {
                var png = HeatmapRenderer.OverlayPng(picture, result.Map, options);
                AtomicFile.Write(output, s => s.Write(png));
            }
            string? mapFile = cli.Get("--map");
            if (mapFile != null) AtomicFile.Write(mapFile, s => MapSerializer.WriteNpy(s, result.Map));

            var truth = GroundTruth(classes, image);
            var row = new
            {
                image,
                model = modelId,
                method,
                classIndex = result.ClassIndex,
                className = Name(classes, result.ClassIndex),
                probability = Math.Round(result.Probability, 6),
                predictedIndex = result.PredictedIndex,
                predictedName = Name(classes, result.PredictedIndex),
                predictedProbability = Math.Round(result.PredictedProbability, 6),
                groundTruthIndex = truth?.Index,
                groundTruthName = truth?.Label,
                layer = result.Layer,
                width = result.ImageWidth,
                height = result.ImageHeight,
                millis = result.Millis,
                deletion = result.Quality?.Deletion,
                insertion = result.Quality?.Insertion,
                quality = result.Quality, // both areas, both curves, steps, millis
                threshold,
                @out = Path.GetFullPath(output),
                map = mapFile == null ? null : Path.GetFullPath(mapFile),
            };
            if (cli.Has("--json")) Output.WriteJson(row);
            else
            {
                Console.Out.WriteLine($"explained class {row.classIndex} ({row.className}), probability {row.probability.ToString("P2", CultureInfo.InvariantCulture)}");
                Console.Out.WriteLine($"predicted class {row.predictedIndex} ({row.predictedName}), probability {row.predictedProbability.ToString("P2", CultureInfo.InvariantCulture)}");
                if (truth != null) Console.Out.WriteLine($"ground truth    {truth.Index} ({truth.Label})");
                Console.Out.WriteLine($"layer           {row.layer ?? "(none)"}");
                Console.Out.WriteLine($"time            {row.millis} ms");
                if (result.Quality is { } q)
                    Console.Out.WriteLine(FormattableString.Invariant(
                        $"deletion AUC    {q.Deletion:F4} (lower = more faithful)\ninsertion AUC   {q.Insertion:F4} (higher = more faithful; {q.Steps} steps, {q.Millis} ms)"));
                Console.Out.WriteLine($"heatmap         {row.@out}" + (row.map != null ? $"\nmap             {row.map}" : ""));
            }
            return 0;
        }
    }

    public static int Similarity(CliArgs cli)
    {
        Commands.RejectUnknown(cli, [.. RunFlags, "--metric", "--csv"]);
        var modelIds = cli.GetAll("--model");
        if (modelIds.Count == 0) throw new CliException("missing --model (give it once per model to compare)");
        if (modelIds.Count > ExplanationService.MaxModels) throw new CliException($"at most {ExplanationService.MaxModels} models, got {modelIds.Count}");
        string method = cli.Require("--method", "explanation method; see vaccnn plugins");
        string metricId = cli.Require("--metric", "similarity metric; see vaccnn plugins");
        string image = OneImage(cli);
        var o = Commands.OptionsFrom(cli);
        var (catalog, registry) = Commands.LoadModels(o);
        using (catalog)
        using (registry)
        {
            var metric = catalog.Metrics.FirstOrDefault(m => m.Id == metricId)
                ?? throw new CliException($"no similarity metric '{metricId}'; known: {string.Join(", ", catalog.Metrics.Select(m => m.Id))}");
            var runner = new ExplanationRunner(registry, catalog.Explainers, qualitySteps: 0); // the matrix needs the maps only
            // Validate every model before spending time on the first one.
            var requests = modelIds.Select(id => Resolve(runner, id, method, cli, layer: null)).ToList();
            var maps = new List<SaliencyMap>();
            for (int i = 0; i < requests.Count; i++)
                maps.Add(Run(runner, requests[i], image, !cli.Has("--no-progress"), $"[{i + 1}/{requests.Count}] {modelIds[i]} {method}").Map);
            var matrix = SimilarityMatrix.Compute(maps, metric);
            var rows = Enumerable.Range(0, maps.Count).Select(i => Enumerable.Range(0, maps.Count).Select(j => Math.Round(matrix[i, j], 6)).ToArray()).ToArray();
            // The same CSV as GET /api/similarity?format=csv: model ids as header and first column, full precision.
            if (cli.Get("--csv") is { } csvFile)
                AtomicFile.Write(csvFile, s => s.Write(System.Text.Encoding.UTF8.GetBytes(CsvText.Matrix(modelIds, matrix))));
            if (cli.Has("--json")) Output.WriteJson(new { image, method, metric = metricId, models = modelIds, matrix = rows });
            else
                Output.WriteTable(["model", .. modelIds.Select((_, j) => $"[{j + 1}]")], rows.Select((r, i) => (IReadOnlyList<string>)
                    [$"[{i + 1}] {modelIds[i]}", .. r.Select(v => v.ToString("F4", CultureInfo.InvariantCulture))]));
            return 0;
        }
    }

    public static int Layers(CliArgs cli)
    {
        Commands.RejectUnknown(cli, "--model");
        string modelId = cli.Require("--model", "model id; see vaccnn models");
        var o = Commands.OptionsFrom(cli);
        var (catalog, registry) = Commands.LoadModels(o);
        using (catalog)
        using (registry)
        {
            var model = registry.Get(modelId);
            var ex = model.Explainable ?? throw new CliException($"model '{modelId}' provides no gradients, so it has no layers to explain");
            var layers = ex.CandidateLayers.Select(l => new { name = l.Name, channels = l.Channels, height = l.Height, width = l.Width, isDefault = l.Name == ex.DefaultLayer }).ToList();
            if (cli.Has("--json")) Output.WriteJson(new { model = modelId, defaultLayer = ex.DefaultLayer, layers });
            else
                Output.WriteTable(["", "channels", "size", "layer"], layers.Select(l => (IReadOnlyList<string>)
                    [l.isDefault ? "*" : "", l.channels.ToString(CultureInfo.InvariantCulture), $"{l.width}x{l.height}", l.name]));
            return 0;
        }
    }

    private static ResolvedExplanation Resolve(ExplanationRunner runner, string modelId, string method, CliArgs cli, string? layer)
    {
        int? cls = cli.Get("--class") is { } c
            ? int.TryParse(c, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) ? n : throw new CliException($"--class must be a whole number, got '{c}'")
            : null;
        var settings = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (string s in cli.GetAll("--set"))
        {
            int eq = s.IndexOf('=');
            if (eq <= 0 || !double.TryParse(s[(eq + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
                throw new CliException($"--set expects NAME=NUMBER, got '{s}'");
            settings[s[..eq]] = v;
        }
        try { return runner.Resolve(modelId, method, cls, layer, cli.GetInt("--seed", 0, int.MinValue, int.MaxValue), settings); }
        catch (RequestRejectedException e) { throw new CliException(e.Message); }
    }

    /// <summary>Runs one explanation with a ticking elapsed-time line on stderr (explainers report no progress).</summary>
    private static ExplanationResult Run(ExplanationRunner runner, ResolvedExplanation what, string image, bool progress, string label)
    {
        var clock = Stopwatch.StartNew();
        using var ticker = progress
            ? new Timer(_ => Console.Error.WriteLine($"{label}: {clock.Elapsed.TotalSeconds:F0} s"), null, 2000, 2000)
            : null;
        if (progress) Console.Error.WriteLine($"{label}: explaining {Path.GetFileName(image)}");
        try
        {
            var result = runner.Explain(what, image);
            if (progress) Console.Error.WriteLine($"{label}: done in {result.Millis} ms");
            return result;
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            throw new CliException($"{what.Explainer.Id} on {what.Model.Card.Id}: {e.Message.ReplaceLineEndings(" ")}");
        }
    }

    private static string OneImage(CliArgs cli)
    {
        if (cli.Positional.Count == 0) throw new CliException("no IMAGE given");
        if (cli.Positional.Count > 1) throw new CliException($"one IMAGE expected, got {cli.Positional.Count}: {string.Join(" ", cli.Positional)}");
        string image = cli.Positional[0];
        if (!File.Exists(image)) throw new CliException($"image '{image}' does not exist");
        return image;
    }

    private static ImageNetClasses? TryClasses(string folder)
    {
        if (string.IsNullOrWhiteSpace(folder) || !Directory.Exists(folder)) return null;
        try { return ImageNetClasses.Load(folder); }
        catch (Exception e) when (e is IOException or InvalidDataException) { return null; } // names are a nicety here
    }

    private static string Name(ImageNetClasses? classes, int index) =>
        classes != null && index >= 0 && index < classes.Classes.Count ? classes.Classes[index].Label : $"class {index}";

    // ImageNet file names start with the wnid (n01443537_10007.JPEG); anything else has no known label.
    private static ImageNetClass? GroundTruth(ImageNetClasses? classes, string image)
    {
        string name = Path.GetFileName(image);
        return classes != null && name.Length >= 9 && ImageNetClasses.IsWnid(name.AsSpan(0, 9)) ? classes.ByWnid(name[..9]) : null;
    }
}
