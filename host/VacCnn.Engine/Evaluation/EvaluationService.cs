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
    public ShardClaim RunShard(string runId, int shardIndex, CancellationToken cancellationToken = default)
    {
        var run = _store.GetRun(runId) ?? throw new KeyNotFoundException($"no run '{runId}'");
        var shard = _store.GetShards(runId).FirstOrDefault(s => s.Index == shardIndex)
                    ?? throw new KeyNotFoundException($"run '{runId}' has no shard {shardIndex}");
        if (shard.State == RunStates.Done) return new ShardClaim(ShardClaimResult.Done, "", null);

        var (model, images) = OpenRunInputs(run);
        var claim = _store.TryClaimShard(runId, shardIndex, ShardLease);
        if (claim.Result != ShardClaimResult.Claimed) return claim;
        try
        {
            Evaluate(run, shard, model, images, claim.Owner, cancellationToken);
            return claim;
        }
        catch
        {
            // Give the shard back now rather than when the lease runs out: a retry may start at once.
            try { _store.ReleaseShard(runId, shardIndex, claim.Owner); }
            catch (Exception e) { _log($"{run.ModelId}: shard {shardIndex + 1}: could not release the lease ({e.Message}); it runs out by itself"); }
            throw;
        }
    }

    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(1);
    private const int PreprocessChunk = 64;

    private void Evaluate(RunInfo run, ShardInfo shard, IClassifier model, ImageSet images, string owner, CancellationToken cancellationToken)
    {
        string runId = run.RunId;
        int shardIndex = shard.Index;
        var sw = Stopwatch.StartNew();
        int classCount = model.Card.ClassCount;
        var slice = images.Images.Skip(shard.Start).Take(shard.Count).Select((img, k) => (Image: img, Position: shard.Start + k)).ToList();
        var pre = PreprocessorFor(model.Card.Preprocessing);

        var probabilities = new List<float>(slice.Count * classCount);
        var predictions = new List<PredictionRow>(slice.Count);
        var skips = new List<SkipRow>();
        // Decode in chunks of at least 64 images (each ML.NET pipeline call has a fixed cost that dominated at batch
        // 8) and infer in the configured batch size; the next chunk decodes while this one runs through the model.
        var chunks = slice.Chunk(Math.Max(_batchSize, PreprocessChunk)).ToList();
        var sinceReport = Stopwatch.StartNew();
        Task<PreprocessedBatch>? next = chunks.Count > 0 ? Task.Run(() => pre.Preprocess(chunks[0].Select(b => b.Image.Path).ToList()), cancellationToken) : null;
        for (int b = 0; b < chunks.Count; b++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var chunk = chunks[b];
            var prepared = next!.GetAwaiter().GetResult();
            // Copy the paths now: a lambda capturing the loop variable would read a later chunk.
            var nextPaths = b + 1 < chunks.Count ? chunks[b + 1].Select(x => x.Image.Path).ToList() : null;
            next = nextPaths != null ? Task.Run(() => pre.Preprocess(nextPaths), cancellationToken) : null;
            foreach (var (pos, reason) in prepared.Skipped)
                skips.Add(new SkipRow(chunk[pos].Position, chunk[pos].Image.RelativePath, reason));
            int perImage = prepared.Decoded.Count == 0 ? 0 : prepared.Tensor.Data.Length / prepared.Decoded.Count;
            for (int first = 0; first < prepared.Decoded.Count; first += _batchSize)
            {
                int n = Math.Min(_batchSize, prepared.Decoded.Count - first);
                var shape = (int[])prepared.Tensor.Shape.Clone();
                shape[0] = n;
                var input = n == prepared.Decoded.Count ? prepared.Tensor
                    : new FloatTensor(shape, prepared.Tensor.Data.AsSpan(first * perImage, n * perImage).ToArray());
                var probs = model.PredictProbabilities(input);
                for (int row = 0; row < n; row++)
                {
                    var item = chunk[prepared.Decoded[first + row]];
                    var p = probs.Data.AsSpan(row * classCount, classCount);
                    var top5 = AccuracyCalculator.TopK(p, 5);
                    var top5Probabilities = new float[top5.Length];
                    for (int k = 0; k < top5.Length; k++) top5Probabilities[k] = p[top5[k]];
                    predictions.Add(new PredictionRow(item.Position, item.Image.RelativePath, item.Image.ClassIndex, top5, top5Probabilities));
                    for (int c = 0; c < classCount; c++) probabilities.Add(p[c]);
                }
            }
            // Progress and lease renewal at most once a second: each is a durable (fsync'd) write, which per small
            // batch cost more than the inference of fast models.
            if (b + 1 < chunks.Count && sinceReport.Elapsed < ProgressInterval) continue;
            sinceReport.Restart();
            if (!_store.ReportShardProgress(runId, shardIndex, predictions.Count + skips.Count, owner, ShardLease))
            {
                // Our lease ran out and another worker took the shard: its result will be the one committed.
                _log($"{run.ModelId}: shard {shardIndex + 1}/{run.ShardCount} was taken over by another worker; dropping this attempt");
                return;
            }
        }
        bool committed = _store.CommitShard(runId, shardIndex, probabilities.ToArray(), classCount, predictions, skips, sw.Elapsed.TotalSeconds, owner);
        _log(committed
            ? $"{run.ModelId}: shard {shardIndex + 1}/{run.ShardCount} done ({predictions.Count} images, {skips.Count} skipped, {sw.Elapsed.TotalSeconds:F1} s)"
            : $"{run.ModelId}: shard {shardIndex + 1}/{run.ShardCount} was committed by another worker; this attempt is dropped");
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
    public EvaluationSummary Evaluate(string modelId, ImageSet images, Action<RunProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var run = PlanRun(modelId, images);
        foreach (var shard in _store.GetShards(run.RunId).Where(s => s.State != RunStates.Done))
        {
            // Another live process holds the shard: wait for it to commit or for its lease to run out.
            while (RunShard(run.RunId, shard.Index, cancellationToken) is { Result: ShardClaimResult.Busy } busy)
                Task.Delay(Clamp(busy.BusyUntilUtc!.Value - DateTime.UtcNow, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(2)), cancellationToken)
                    .GetAwaiter().GetResult();
            progress?.Invoke(_store.GetProgress(run.RunId));
        }
        TryFinalize(run.RunId);
        progress?.Invoke(_store.GetProgress(run.RunId));
        return _store.GetSummary(run.RunId) ?? throw new InvalidOperationException($"run {run.RunId} did not finish");
    }

    private static TimeSpan Clamp(TimeSpan t, TimeSpan min, TimeSpan max) => t < min ? min : t > max ? max : t;

    private (IClassifier Model, ImageSet Images) OpenRunInputs(RunInfo run)
    {
        var model = _models.Get(run.ModelId);
        if (ModelFingerprint(run.ModelId) != run.ModelFingerprint)
            return Fail(run, $"model '{run.ModelId}' changed on disk since run {run.RunId} was planned; plan a new run");
        var images = ImageSet.Open(run.ImagesRoot, _classes);
        if (images.Fingerprint != run.ImageSetFingerprint)
            return Fail(run, $"image set '{run.ImagesRoot}' changed since run {run.RunId} was planned; plan a new run");
        return (model, images);
    }

    private (IClassifier, ImageSet) Fail(RunInfo run, string message)
    {
        _store.SetRunState(run.RunId, RunStates.Failed, message);
        throw new InvalidOperationException(message);
    }

    private ImagePreprocessor PreprocessorFor(PreprocessingSpec spec)
    {
        string key = $"{spec.ResizeShorterSide}|{spec.CropWidth}|{spec.CropHeight}|{spec.Channels}|{string.Join(",", spec.Mean)}|{string.Join(",", spec.Std)}";
        return _preprocessors.GetOrAdd(key, _ => new ImagePreprocessor(spec));
    }
}
