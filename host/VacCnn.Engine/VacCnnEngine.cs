using VacCnn.Engine.Analytics;
using VacCnn.Engine.Configuration;
using VacCnn.Engine.Data;
using VacCnn.Engine.Evaluation;
using VacCnn.Engine.Plugins;
using VacCnn.Engine.Store;

namespace VacCnn.Engine;

/// <summary>
/// The composition root shared by the web host, the CLI and the tests: validated options, loaded plugins, the models
/// they discovered, the ImageNet classes, the result store and the evaluation service.
/// </summary>
public sealed class VacCnnEngine : IDisposable
{
    private VacCnnEngine(VacCnnOptions options, PluginCatalog plugins, ModelRegistry models, ImageNetClasses classes, ResultStore store, EvaluationService evaluation)
    {
        Options = options;
        Plugins = plugins;
        Models = models;
        Classes = classes;
        Store = store;
        Evaluation = evaluation;
        Analytics = new AnalyticsService(store, classes: classes);
    }

    /// <summary>Effective options (plugins folder resolved).</summary>
    public VacCnnOptions Options { get; }
    /// <summary>Loaded plugins.</summary>
    public PluginCatalog Plugins { get; }
    /// <summary>Discovered models.</summary>
    public ModelRegistry Models { get; }
    /// <summary>ImageNet classes and root classes.</summary>
    public ImageNetClasses Classes { get; }
    /// <summary>Durable results.</summary>
    public ResultStore Store { get; }
    /// <summary>Evaluation (used by jobs and the CLI).</summary>
    public EvaluationService Evaluation { get; }
    /// <summary>Class analytics of finished runs (distribution graph, confusions, accuracy tables), cached by fingerprint.</summary>
    public AnalyticsService Analytics { get; }

    /// <summary>
    /// Validates <paramref name="options"/> and loads everything. Throws <see cref="OptionsValidationException"/> with
    /// one line per problem when the configuration is wrong.
    /// </summary>
    public static VacCnnEngine Create(VacCnnOptions options, Action<string>? log = null, bool needImages = false)
    {
        log ??= _ => { };
        if (string.IsNullOrWhiteSpace(options.Plugins)) options.Plugins = DefaultPluginsFolder() ?? "";
        var problems = options.Validate(needImages);
        if (problems.Count > 0) throw new OptionsValidationException(problems);

        var plugins = PluginCatalog.Load(options.Plugins);
        foreach (var p in plugins.Plugins)
            log(p.Error == null ? $"plugin {p.Name} loaded from {p.Folder}" : $"plugin {p.Name} FAILED: {p.Error}");
        var classes = ImageNetClasses.Load(options.ImageNet);
        var models = ModelRegistry.Discover(plugins.ModelSources, options.Models, options.Device, log, options.InferenceThreads);
        foreach (var f in models.Failures) log($"model {f.Id} FAILED: {f.Error}");
        var store = OpenStore(options);
        log($"result tables in {store.DatabaseDescription}, matrices in {store.DataDirectory}");
        var evaluation = new EvaluationService(models, store, classes, options.ShardSize, options.BatchSize, log,
            TimeSpan.FromSeconds(options.ShardLeaseSeconds));
        return new VacCnnEngine(options, plugins, models, classes, store, evaluation);
    }

    /// <summary>The result store the options select (embedded SQLite, or PostgreSQL tables with matrices in Data).</summary>
    public static ResultStore OpenStore(VacCnnOptions options) =>
        new(options.Data, options.UsesPostgres ? StoreDatabase.Postgres(options.PostgreSql) : null);

    /// <summary>
    /// Where plugins are when none is configured: <c>plugins/</c> beside the program, else <c>artifacts/plugins</c>
    /// in the nearest folder above it (a source checkout, where plugin projects deploy themselves).
    /// </summary>
    public static string? DefaultPluginsFolder()
    {
        string beside = Path.Combine(AppContext.BaseDirectory, "plugins");
        if (Directory.Exists(beside)) return beside;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "artifacts", "plugins");
            if (Directory.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Models.Dispose();
        Plugins.Dispose();
    }
}

/// <summary>The configuration is invalid; <see cref="Exception.Message"/> lists every problem.</summary>
public sealed class OptionsValidationException(IReadOnlyList<string> problems)
    : Exception("invalid configuration: " + string.Join(" ", problems))
{
    /// <summary>One message per problem.</summary>
    public IReadOnlyList<string> Problems { get; } = problems;
}
