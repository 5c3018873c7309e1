using System.Collections.Concurrent;
using System.Diagnostics;
using VacCnn.Contracts;
using VacCnn.Engine.Data;
using VacCnn.Engine.Plugins;
using VacCnn.Engine.Store;

namespace VacCnn.Engine.Evaluation;

/// <summary>
/// Evaluates models over image sets, shard by shard, into the <see cref="ResultStore"/>. The background jobs and
/// the CLI both go through here. Every step is idempotent: planning returns the existing run, a finished shard is
/// not redone, re-running a shard replaces its rows, and finalising twice writes the same result — so a job that
/// runs twice, or a process killed at any moment and restarted, neither loses nor double-counts anything.
/// </summary>
public sealed class EvaluationService
{
    private readonly ModelRegistry _models;
    private readonly ResultStore _store;
    private readonly ImageNetClasses _classes;
    private readonly int _shardSize;
    private readonly int _batchSize;
    private readonly Action<string> _log;
    private readonly ConcurrentDictionary<string, ImagePreprocessor> _preprocessors = new();
    private readonly ConcurrentDictionary<(string, long, DateTime), string> _fingerprints = new();

    /// <summary>Default time a silent worker keeps a shard before another worker may take it over.</summary>
    public static readonly TimeSpan DefaultShardLease = TimeSpan.FromSeconds(60);

    /// <summary>Creates the service.</summary>
    public EvaluationService(ModelRegistry models, ResultStore store, ImageNetClasses classes, int shardSize, int batchSize, Action<string>? log = null,
        TimeSpan? shardLease = null)
    {
        ShardLease = shardLease ?? DefaultShardLease;
        _models = models;
        _store = store;
        _classes = classes;
        _shardSize = shardSize;
        _batchSize = batchSize;
        _log = log ?? (_ => { });
    }

    /// <summary>
    /// How long a shard stays with a worker that stops reporting progress (killed, hung, cut off) before another
    /// worker takes it over; renewed after every batch, so it must exceed the time of one batch.
    /// </summary>
    public TimeSpan ShardLease { get; }

    /// <summary>The store results go to.</summary>
    public ResultStore Store => _store;

    /// <summary>The models that can be evaluated.</summary>
    public ModelRegistry Models => _models;

    /// <summary>The ImageNet classes used for labels and root classes.</summary>
    public ImageNetClasses Classes => _classes;

    /// <summary>Fingerprint of a loaded model (cached while its files are unchanged).</summary>
    public string ModelFingerprint(string modelId)
    {
        string location = _models.LocationOf(modelId);
        if (!Directory.Exists(location) && !File.Exists(location))
            throw new InvalidOperationException(
                $"model '{modelId}': its files at '{location}' are gone (deleted or moved while the host runs); restore them, or restart to reload the models");
        var files = Directory.Exists(location)
            ? new DirectoryInfo(location).GetFiles("*", SearchOption.AllDirectories)
            : [new FileInfo(location)];
        // Size and newest write time, from one listing: cheap enough to check on every shard, and any edit changes them.
        var (len, time) = (files.Sum(f => f.Length), files.Select(f => f.LastWriteTimeUtc).DefaultIfEmpty().Max());
        return _fingerprints.GetOrAdd((location, len, time), _ => Fingerprint.OfModel(location));
    }

    /// <summary>Returns the run of <paramref name="modelId"/> over <paramref name="images"/>, creating it if new.</summary>
    public RunInfo PlanRun(string modelId, ImageSet images)
    {
        var model = _models.Get(modelId);
        if (model.Card.ClassCount != _classes.Classes.Count)
            throw new InvalidOperationException(
                $"model '{modelId}' has {model.Card.ClassCount} outputs but the label set has {_classes.Classes.Count} classes");
        return _store.GetOrCreateRun(modelId, ModelFingerprint(modelId), images.Fingerprint, images.Root, images.Images.Count, _shardSize);
    }

    /// <summary>
    /// Evaluates one shard unless it is already done or another live worker holds it (see
    /// <see cref="ResultStore.TryClaimShard"/>). Throws when the model or image set changed since the run was planned
    /// (the run is then marked failed: its results would be stale).
    /// </summary>
    public ShardClaim RunShard(string runId, int shardIndex, CancellationToken cancellationToken = default) =>
        RunShards([runId], shardIndex, cancellationToken)[0];

    /// <summary>
    /// Evaluates shard <paramref name="shardIndex"/> of several runs over the same image set in one pass: each image
    /// is decoded once and feeds every model (models with the same preprocessing recipe share the tensor). Each run's
    /// shard is claimed, leased, renewed and committed on its own exactly as by <see cref="RunShard"/>, so a run
    /// whose shard is done or held elsewhere is left out, and a kill at any moment loses only uncommitted shards.
    /// Returns the claim result per run (in order). A model that throws gives its shard back and does not stop the
    /// others; its exception is rethrown after the others committed (an <see cref="AggregateException"/> when
    /// several failed).
    /// </summary>
    /// <exception cref="ArgumentException">The runs do not share one image set and shard layout.</exception>
    public IReadOnlyList<ShardClaim> RunShards(IReadOnlyList<string> runIds, int shardIndex, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(runIds);
        if (runIds.Count == 0) return [];
        var claims = new ShardClaim[runIds.Count];
        var members = new List<PassMember>();
        ImageSet? images = null;
        ShardInfo? layout = null;
        RunInfo? first = null;
        try
        {
            for (int i = 0; i < runIds.Count; i++)
            {
                var run = _store.GetRun(runIds[i]) ?? throw new KeyNotFoundException($"no run '{runIds[i]}'");
                var shard = _store.GetShards(run.RunId).FirstOrDefault(s => s.Index == shardIndex)
                            ?? throw new KeyNotFoundException($"run '{run.RunId}' has no shard {shardIndex}");
                if (first == null) (first, layout) = (run, shard);
                else if (run.ImageSetFingerprint != first.ImageSetFingerprint || run.ImagesRoot != first.ImagesRoot
                         || shard.Start != layout!.Start || shard.Count != layout.Count)
                    throw new ArgumentException(
                        $"runs {first.RunId} and {run.RunId} cannot share a pass: different image sets or shard layouts", nameof(runIds));
                if (shard.State == RunStates.Done) { claims[i] = new ShardClaim(ShardClaimResult.Done, "", null); continue; }

                var (model, set) = OpenRunInputs(run, images);
                images = set;
                var claim = claims[i] = _store.TryClaimShard(run.RunId, shardIndex, ShardLease);
                if (claim.Result == ShardClaimResult.Claimed) members.Add(new PassMember(run, shard, model, claim.Owner));
            }
        }
        catch
        {
            foreach (var m in members) Release(m);
            throw;
        }
        if (members.Count > 0) EvaluatePass(members, layout!, images!, cancellationToken);
        return claims;
    }

    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(1);
    private const int PreprocessChunk = 64;

    /// <summary>One model's part of a shared pass over a shard.</summary>
    private sealed class PassMember(RunInfo run, ShardInfo shard, IClassifier model, string owner)
    {
        public RunInfo Run { get; } = run;
        public ShardInfo Shard { get; } = shard;
        public IClassifier Model { get; } = model;
        public string Owner { get; } = owner;
        public int Recipe { get; set; }
        public List<float> Probabilities { get; } = new(shard.Count * model.Card.ClassCount);
        public List<PredictionRow> Predictions { get; } = new(shard.Count);
        public List<SkipRow> Skips { get; } = [];
        /// <summary>Why this member stopped (its exception), or null while it runs.</summary>
        public Exception? Error { get; set; }
        /// <summary>True when another worker took the shard over: the attempt is dropped without error.</summary>
        public bool LostLease { get; set; }
        public bool Active => Error == null && !LostLease;
    }

    private void EvaluatePass(List<PassMember> members, ShardInfo layout, ImageSet images, CancellationToken cancellationToken)
    {
        var sw = Stopwatch.StartNew();
        var slice = images.Images.Skip(layout.Start).Take(layout.Count).Select((img, k) => (Image: img, Position: layout.Start + k)).ToList();
        // One recipe per distinct preprocessing: models that agree share a tensor; all share one decode.
        var recipes = new List<PreprocessingSpec>();
        var recipeIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var m in members)
        {
            string key = ImagePreprocessor.RecipeKey(m.Model.Card.Preprocessing);
            if (!recipeIndex.TryGetValue(key, out int r)) { recipeIndex[key] = r = recipes.Count; recipes.Add(m.Model.Card.Preprocessing); }
            m.Recipe = r;
        }
        var pre = PreprocessorFor(recipes);

        // Decode in chunks of at least 64 images (each ML.NET pipeline call has a fixed cost that dominated at batch
        // 8) and infer in the configured batch size; the next chunk decodes while this one runs through the models.
        var chunks = slice.Chunk(Math.Max(_batchSize, PreprocessChunk)).ToList();
        var sinceReport = Stopwatch.StartNew();
        Task<IReadOnlyList<PreprocessedBatch>>? next = chunks.Count > 0
            ? Task.Run(() => pre.PreprocessAll(chunks[0].Select(b => b.Image.Path).ToList()), cancellationToken) : null;
        try
        {
            for (int b = 0; b < chunks.Count && members.Any(m => m.Active); b++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var chunk = chunks[b];
                var prepared = next!.GetAwaiter().GetResult();
                // Copy the paths now: a lambda capturing the loop variable would read a later chunk.
                var nextPaths = b + 1 < chunks.Count ? chunks[b + 1].Select(x => x.Image.Path).ToList() : null;
                next = nextPaths != null ? Task.Run(() => pre.PreprocessAll(nextPaths), cancellationToken) : null;
                foreach (var m in members.Where(m => m.Active))
                {
                    try { Infer(m, chunk, prepared[m.Recipe]); }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        m.Error = e;
                        Release(m);
                        _log($"{m.Run.ModelId}: shard {m.Shard.Index + 1}/{m.Run.ShardCount} FAILED: {e.Message}");
                    }
                }
                // Progress and lease renewal at most once a second: each is a durable (fsync'd) write, which per small
                // batch cost more than the inference of fast models.
                if (b + 1 < chunks.Count && sinceReport.Elapsed < ProgressInterval) continue;
                sinceReport.Restart();
                foreach (var m in members.Where(m => m.Active))
                    if (!_store.ReportShardProgress(m.Run.RunId, m.Shard.Index, m.Predictions.Count + m.Skips.Count, m.Owner, ShardLease))
                    {
                        // Our lease ran out and another worker took the shard: its result will be the one committed.
                        m.LostLease = true;
                        _log($"{m.Run.ModelId}: shard {m.Shard.Index + 1}/{m.Run.ShardCount} was taken over by another worker; dropping this attempt");
                    }
            }
        }
        catch
        {
            foreach (var m in members.Where(m => m.Active)) Release(m);
            throw;
        }
        finally
        {
            // Never leave the prefetch running unobserved (it may still be decoding when a model threw).
            try { next?.GetAwaiter().GetResult(); } catch { /* reported by the pass itself */ }
        }

        foreach (var m in members.Where(m => m.Active))
        {
            try
            {
                bool committed = _store.CommitShard(m.Run.RunId, m.Shard.Index, m.Probabilities.ToArray(), m.Model.Card.ClassCount,
                    m.Predictions, m.Skips, sw.Elapsed.TotalSeconds, m.Owner);
                _log(committed
                    ? $"{m.Run.ModelId}: shard {m.Shard.Index + 1}/{m.Run.ShardCount} done ({m.Predictions.Count} images, {m.Skips.Count} skipped, {sw.Elapsed.TotalSeconds:F1} s{(members.Count > 1 ? $", shared with {members.Count - 1} other models" : "")})"
                    : $"{m.Run.ModelId}: shard {m.Shard.Index + 1}/{m.Run.ShardCount} was committed by another worker; this attempt is dropped");
            }
            catch (Exception e)
            {
                m.Error = e;
                Release(m);
            }
        }
        var errors = members.Where(m => m.Error != null).Select(m => m.Error!).ToList();
        if (errors.Count == 1) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(errors[0]).Throw();
        if (errors.Count > 1) throw new AggregateException($"{errors.Count} models failed on shard {layout.Index + 1}", errors);
    }

    /// <summary>Runs one chunk's tensor through one model and appends its rows.</summary>
    private void Infer(PassMember m, (LabeledImage Image, int Position)[] chunk, PreprocessedBatch prepared)
    {
        int classCount = m.Model.Card.ClassCount;
        foreach (var (pos, reason) in prepared.Skipped)
            m.Skips.Add(new SkipRow(chunk[pos].Position, chunk[pos].Image.RelativePath, reason));
        int perImage = prepared.Decoded.Count == 0 ? 0 : prepared.Tensor.Data.Length / prepared.Decoded.Count;
        for (int first = 0; first < prepared.Decoded.Count; first += _batchSize)
        {
            int n = Math.Min(_batchSize, prepared.Decoded.Count - first);
            var shape = (int[])prepared.Tensor.Shape.Clone();
            shape[0] = n;
            var input = n == prepared.Decoded.Count ? prepared.Tensor
                : new FloatTensor(shape, prepared.Tensor.Data.AsSpan(first * perImage, n * perImage).ToArray());
            var probs = m.Model.PredictProbabilities(input);
            for (int row = 0; row < n; row++)
            {
                var item = chunk[prepared.Decoded[first + row]];
                var p = probs.Data.AsSpan(row * classCount, classCount);
                var top5 = AccuracyCalculator.TopK(p, 5);
                var top5Probabilities = new float[top5.Length];
                for (int k = 0; k < top5.Length; k++) top5Probabilities[k] = p[top5[k]];
                m.Predictions.Add(new PredictionRow(item.Position, item.Image.RelativePath, item.Image.ClassIndex, top5, top5Probabilities));
                for (int c = 0; c < classCount; c++) m.Probabilities.Add(p[c]);
            }
        }
    }

    /// <summary>Gives the shard back now rather than when the lease runs out: a retry may start at once.</summary>
    private void Release(PassMember m)
    {
        try { _store.ReleaseShard(m.Run.RunId, m.Shard.Index, m.Owner); }
        catch (Exception e) { _log($"{m.Run.ModelId}: shard {m.Shard.Index + 1}: could not release the lease ({e.Message}); it runs out by itself"); }
    }

    /// <summary>
    /// When every shard is done: assembles confidence.npy / labels.npy / image_index.npy, computes the accuracy
    /// tables and marks the run done. Returns false (and does nothing) while shards are missing.
    /// </summary>
    public bool TryFinalize(string runId)
    {
        var run = _store.GetRun(runId) ?? throw new KeyNotFoundException($"no run '{runId}'");
        if (run.State == RunStates.Done) return true;
        var shards = _store.GetShards(runId);
        if (shards.Any(s => s.State != RunStates.Done)) return false;

        int classCount = _classes.Classes.Count;
        var rows = new List<PredictionRow>();
        var matrix = new List<float>();
        try
        {
            foreach (var shard in shards)
            {
                var preds = _store.GetPredictions(runId, shard.Index);
                float[] data = preds.Count == 0 ? [] : Npy.ReadFloats(_store.ShardMatrixPath(runId, shard.Index)).Data;
                if (data.Length != preds.Count * classCount)
                    throw new InvalidDataException($"run {runId} shard {shard.Index}: matrix has {data.Length} values for {preds.Count} predictions");
                rows.AddRange(preds);
                matrix.AddRange(data);
            }
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException && _store.GetRun(runId)?.State == RunStates.Done)
        {
            return true; // another worker finalised the run meanwhile and removed the shard files
        }
        var probabilities = matrix.ToArray();
        var labels = rows.Select(r => r.Label).ToArray();
        Npy.WriteFile(_store.ConfidencePath(runId), probabilities, rows.Count, classCount);
        Npy.WriteFile(_store.LabelsPath(runId), labels, rows.Count);
        Npy.WriteFile(_store.ImageIndexPath(runId), rows.Select(r => r.ImageIndex).ToArray(), rows.Count);

        var accuracy = AccuracyCalculator.Compute(probabilities, labels, classCount, _classes);
        var overall = accuracy.First(a => a.Scope == AccuracyCalculator.Overall);
        var perRoot = accuracy.Where(a => a.Scope == AccuracyCalculator.Root).ToDictionary(a => a.Key, a => a.Top1);
        int skipped = shards.Sum(s => s.Skipped);
        var summary = new EvaluationSummary(run.ModelId, runId, rows.Count, skipped, overall.Top1, overall.Top5, perRoot);
        if (!_store.CompleteRun(runId, accuracy, summary)) return true; // another finaliser completed it first
        foreach (var shard in shards)
            try { File.Delete(_store.ShardMatrixPath(runId, shard.Index)); } catch (IOException) { }
        _log($"{run.ModelId}: done — top-1 {overall.Top1:P1}, top-5 {overall.Top5:P1} on {rows.Count} images ({skipped} skipped)");
        return true;
    }

    /// <summary>
    /// Evaluates a model over an image set in this process, resuming whatever is already done, and returns the
    /// summary. Reports progress after every shard.
    /// </summary>
    public EvaluationSummary Evaluate(string modelId, ImageSet images, Action<RunProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Evaluate([modelId], images, progress, cancellationToken)[0];

    /// <summary>
    /// Evaluates several models over one image set in this process with one pass over the images per shard (see
    /// <see cref="RunShards"/>), resuming whatever is already done, and returns their summaries in order. Runs
    /// planned earlier with another shard size are passed over separately. <paramref name="progress"/> is called
    /// for every run after each shard.
    /// </summary>
    public IReadOnlyList<EvaluationSummary> Evaluate(IReadOnlyList<string> modelIds, ImageSet images, Action<RunProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(modelIds);
        var runs = modelIds.Select(id => PlanRun(id, images)).ToList();
        foreach (var (shard, runIds) in _store.PlanSharedPasses(runs.Select(r => r.RunId).ToList()).Passes)
        {
            var todo = runIds.ToList();
            while (todo.Count > 0)
            {
                var claims = RunShards(todo, shard, cancellationToken);
                var busy = todo.Zip(claims).Where(x => x.Second.Result == ShardClaimResult.Busy).ToList();
                todo = busy.Select(x => x.First).ToList();
                // Another live process holds some of these shards: wait for it to commit or for its lease to run out.
                if (todo.Count > 0)
                    Task.Delay(Clamp(busy.Min(x => x.Second.BusyUntilUtc!.Value) - DateTime.UtcNow, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(2)),
                        cancellationToken).GetAwaiter().GetResult();
            }
            foreach (var id in runIds) progress?.Invoke(_store.GetProgress(id));
        }
        foreach (var run in runs)
        {
            TryFinalize(run.RunId);
            progress?.Invoke(_store.GetProgress(run.RunId));
        }
        return runs.Select(r => _store.GetSummary(r.RunId) ?? throw new InvalidOperationException($"run {r.RunId} did not finish")).ToList();
    }

    private static TimeSpan Clamp(TimeSpan t, TimeSpan min, TimeSpan max) => t < min ? min : t > max ? max : t;

    /// <summary>The run's model and image set, checked against the fingerprints it was planned with; an image set
    /// already opened for another run of the same pass is reused (one listing per pass).</summary>
    private (IClassifier Model, ImageSet Images) OpenRunInputs(RunInfo run, ImageSet? opened = null)
    {
        var model = _models.Get(run.ModelId);
        if (ModelFingerprint(run.ModelId) != run.ModelFingerprint)
            return Fail(run, $"model '{run.ModelId}' changed on disk since run {run.RunId} was planned; plan a new run");
        var images = opened ?? ImageSet.Open(run.ImagesRoot, _classes);
        if (images.Fingerprint != run.ImageSetFingerprint)
            return Fail(run, $"image set '{run.ImagesRoot}' changed since run {run.RunId} was planned; plan a new run");
        return (model, images);
    }

    private (IClassifier, ImageSet) Fail(RunInfo run, string message)
    {
        _store.SetRunState(run.RunId, RunStates.Failed, message);
        throw new InvalidOperationException(message);
    }

    private ImagePreprocessor PreprocessorFor(IReadOnlyList<PreprocessingSpec> specs) =>
        _preprocessors.GetOrAdd(string.Join("\n", specs.Select(ImagePreprocessor.RecipeKey)), _ => new ImagePreprocessor(specs));

    /// <summary>Images decoded so far by this service's passes (each decode feeds every model of its pass).</summary>
    public long ImagesDecoded => _preprocessors.Values.Sum(p => p.ImagesDecoded);
}
