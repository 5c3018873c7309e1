using System.Reflection;
using McMaster.NETCore.Plugins;
using VacCnn.Contracts;

namespace VacCnn.Engine.Plugins;

/// <summary>One plugin folder and what it contributed, or why it failed to load.</summary>
/// <param name="Name">Plugin name (its folder name = its main assembly name).</param>
/// <param name="Folder">Where it was loaded from.</param>
/// <param name="Error">Why it failed, or null.</param>
/// <param name="ModelSources">Model sources it provides.</param>
/// <param name="Explainers">Explainers it provides.</param>
/// <param name="Metrics">Similarity metrics it provides.</param>
public sealed record LoadedPlugin(
    string Name,
    string Folder,
    string? Error,
    IReadOnlyList<IModelSource> ModelSources,
    IReadOnlyList<IExplainer> Explainers,
    IReadOnlyList<ISimilarityMetric> Metrics);

/// <summary>
/// Discovers plugins at run time: every subfolder <c>&lt;plugins&gt;/&lt;Name&gt;/</c> holding <c>&lt;Name&gt;.dll</c>
/// is loaded into its own load context (McMaster.NETCore.Plugins) with the contracts shared, and every public
/// concrete type implementing a contract with a parameterless constructor is instantiated.
/// A plugin that fails to load or whose constructor throws is reported; the others still load.
/// Plugins run with the host's rights: only folders an administrator controls should be configured.
/// </summary>
public sealed class PluginCatalog : IDisposable
{
    private static readonly Type[] SharedTypes =
        [typeof(IClassifier), typeof(IModelSource), typeof(IExplainer), typeof(ISimilarityMetric), typeof(FloatTensor)];

    private readonly List<PluginLoader> _loaders = [];

    private PluginCatalog(string? folder, IReadOnlyList<LoadedPlugin> plugins)
    {
        Folder = folder;
        Plugins = plugins;
    }

    /// <summary>The folder scanned, or null when none was configured.</summary>
    public string? Folder { get; }

    /// <summary>Every plugin found, loaded or failed, ordered by name.</summary>
    public IReadOnlyList<LoadedPlugin> Plugins { get; }

    /// <summary>All model sources of the plugins that loaded.</summary>
    public IEnumerable<IModelSource> ModelSources => Plugins.SelectMany(p => p.ModelSources);

    /// <summary>All explainers, by id (first plugin wins on a clash).</summary>
    public IEnumerable<IExplainer> Explainers => Plugins.SelectMany(p => p.Explainers).DistinctBy(e => e.Id);

    /// <summary>All similarity metrics, by id (first plugin wins on a clash).</summary>
    public IEnumerable<ISimilarityMetric> Metrics => Plugins.SelectMany(p => p.Metrics).DistinctBy(m => m.Id);

    /// <summary>Scans <paramref name="pluginsFolder"/>; a null/empty/missing folder gives an empty catalog.</summary>
    public static PluginCatalog Load(string? pluginsFolder)
    {
        if (string.IsNullOrWhiteSpace(pluginsFolder) || !Directory.Exists(pluginsFolder))
            return new PluginCatalog(pluginsFolder, []);

        // McMaster's loader wants absolute paths; a relative --plugins flag is relative to the working directory.
        pluginsFolder = Path.GetFullPath(pluginsFolder);
        var plugins = new List<LoadedPlugin>();
        var loaders = new List<PluginLoader>();
        foreach (string dir in Directory.EnumerateDirectories(pluginsFolder).Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(dir);
            string dll = Path.Combine(dir, name + ".dll");
            if (!File.Exists(dll))
            {
                plugins.Add(Failed(name, dir, $"no {name}.dll in the plugin folder (a plugin folder must hold an assembly named after it)"));
                continue;
            }
            plugins.Add(LoadOne(name, dir, dll, loaders));
        }
        var catalog = new PluginCatalog(pluginsFolder, plugins);
        catalog._loaders.AddRange(loaders);
        return catalog;
    }

    private static LoadedPlugin LoadOne(string name, string dir, string dll, List<PluginLoader> loaders)
    {
        // Before any plugin code runs: contracts it was not built for are a clear refusal, not a MissingMethodException later.
        try
        {
            if (PluginCompatibility.Check(dll) is { } reason) return Failed(name, dir, "incompatible contracts: " + reason);
        }
        catch (Exception e) when (e is BadImageFormatException or IOException or InvalidOperationException)
        {
            return Failed(name, dir, $"cannot load {Path.GetFileName(dll)}: {e.Message}");
        }

        Assembly assembly;
        try
        {
            var loader = PluginLoader.CreateFromAssemblyFile(dll, SharedTypes, config => config.PreferSharedTypes = true);
            loaders.Add(loader);
            assembly = loader.LoadDefaultAssembly();
        }
        catch (Exception e)
        {
            return Failed(name, dir, $"cannot load {Path.GetFileName(dll)}: {e.GetType().Name}: {e.Message}");
        }

        Type[] types;
        try { types = assembly.GetExportedTypes(); }
        catch (Exception e)
        {
            return Failed(name, dir, $"cannot read the types of {assembly.GetName().Name}: {Inner(e).Message}");
        }

        var sources = new List<IModelSource>();
        var explainers = new List<IExplainer>();
        var metrics = new List<ISimilarityMetric>();
        var errors = new List<string>();
        foreach (var type in types.Where(t => t is { IsClass: true, IsAbstract: false } && t.GetConstructor(Type.EmptyTypes) != null))
        {
            bool wanted = typeof(IModelSource).IsAssignableFrom(type) || typeof(IExplainer).IsAssignableFrom(type)
                          || typeof(ISimilarityMetric).IsAssignableFrom(type);
            if (!wanted) continue;
            object instance;
            try { instance = Activator.CreateInstance(type)!; }
            catch (Exception e)
            {
                errors.Add($"{type.FullName} threw while being created: {Inner(e).Message}");
                continue;
            }
            if (instance is IModelSource s) sources.Add(s);
            if (instance is IExplainer x) explainers.Add(x);
            if (instance is ISimilarityMetric m) metrics.Add(m);
        }
        if (errors.Count > 0 && sources.Count + explainers.Count + metrics.Count == 0)
            return Failed(name, dir, string.Join("; ", errors));
        if (errors.Count == 0 && sources.Count + explainers.Count + metrics.Count == 0)
            errors.Add("the assembly exports no model source, explainer or similarity metric");
        return new LoadedPlugin(name, dir, errors.Count > 0 ? string.Join("; ", errors) : null, sources, explainers, metrics);
    }

    private static Exception Inner(Exception e) => e is TargetInvocationException { InnerException: { } i } ? i : e;

    private static LoadedPlugin Failed(string name, string dir, string error) => new(name, dir, error, [], [], []);

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var loader in _loaders) loader.Dispose();
        _loaders.Clear();
    }
}
