using VacCnn.Contracts;

namespace VacCnn.Engine.Plugins;

/// <summary>
/// The classifiers available under the models root, gathered from every model source plugin, plus the models that
/// failed to load with their reasons. One bad model never hides the others.
/// </summary>
public sealed class ModelRegistry : IDisposable
{
    private readonly Dictionary<string, IClassifier> _byId;

    private ModelRegistry(string root, IReadOnlyList<ModelLoadResult> results)
    {
        ModelsRoot = root;
        Results = results;
        _byId = results.Where(r => r.Classifier != null)
            .GroupBy(r => r.Id, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First().Classifier!, StringComparer.Ordinal);
    }

    /// <summary>The folder scanned.</summary>
    public string ModelsRoot { get; }

    /// <summary>Every model found, loaded or failed, ordered by id.</summary>
    public IReadOnlyList<ModelLoadResult> Results { get; }

    /// <summary>Loaded classifiers ordered by id.</summary>
    public IReadOnlyList<IClassifier> Classifiers => _byId.Values.OrderBy(c => c.Card.Id, StringComparer.Ordinal).ToList();

    /// <summary>Models that failed to load, with reasons.</summary>
    public IEnumerable<ModelLoadResult> Failures => Results.Where(r => r.Error != null);

    /// <summary>The classifier with this id, or null.</summary>
    public IClassifier? Find(string id) => _byId.GetValueOrDefault(id);

    /// <summary>Where the model with this id was loaded from (folder or file).</summary>
    public string LocationOf(string id) =>
        Results.First(r => r.Id == id && r.Classifier != null).Location;

    /// <summary>The classifier with this id, or an exception whose message lists the known ids / the load error.</summary>
    public IClassifier Get(string id)
    {
        if (_byId.TryGetValue(id, out var c)) return c;
        var failed = Results.FirstOrDefault(r => r.Id == id && r.Error != null);
        if (failed != null) throw new KeyNotFoundException($"model '{id}' failed to load: {failed.Error}");
        throw new KeyNotFoundException(
            $"no model '{id}' under {ModelsRoot}; known: {string.Join(", ", _byId.Keys.Order(StringComparer.Ordinal))}");
    }

    /// <summary>A registry over results loaded elsewhere (tools, tests).</summary>
    public static ModelRegistry FromResults(string modelsRoot, IReadOnlyList<ModelLoadResult> results) =>
        new(modelsRoot, results.OrderBy(r => r.Id, StringComparer.Ordinal).ToList());

    /// <summary>Asks every source to discover models under <paramref name="modelsRoot"/>. A source that throws is
    /// reported as one failed entry. <paramref name="inferenceThreads"/>: threads per inference session (0 = the
    /// source decides).</summary>
    public static ModelRegistry Discover(IEnumerable<IModelSource> sources, string modelsRoot, ExecutionDevice device, Action<string> log,
        int inferenceThreads = 0)
    {
        var results = new List<ModelLoadResult>();
        var context = new ModelSourceContext(Path.GetFullPath(modelsRoot), device, log) { InferenceThreads = inferenceThreads };
        foreach (var source in sources)
        {
            try { results.AddRange(source.Discover(context)); }
            catch (Exception e)
            {
                results.Add(new ModelLoadResult($"({source.Name})", modelsRoot, null,
                    $"model source '{source.Name}' failed: {e.GetType().Name}: {e.Message}"));
            }
        }
        var duplicates = results.Where(r => r.Classifier != null).GroupBy(r => r.Id).Where(g => g.Count() > 1);
        foreach (var g in duplicates) log($"model id '{g.Key}' is provided more than once; the first one is used");
        return new ModelRegistry(modelsRoot, results.OrderBy(r => r.Id, StringComparer.Ordinal).ToList());
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var r in Results) r.Classifier?.Dispose();
    }
}
