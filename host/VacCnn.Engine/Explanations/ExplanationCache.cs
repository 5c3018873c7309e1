using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using VacCnn.Contracts;
using VacCnn.Engine.Evaluation;
using VacCnn.Engine.Store;

namespace VacCnn.Engine.Explanations;

/// <summary>Cache keys of explanations.</summary>
public static class ExplanationKeys
{
    /// <summary>
    /// SHA-256 over everything that determines the map: the model's files, the image's bytes, the explainer and the
    /// build of its plugin (its module version id, so a changed explainer never serves old maps), the class ("pred"
    /// when the predicted one), the resolved layer, every setting with defaults filled in, the seed, and the steps of
    /// the deletion/insertion measurement stored with the map, and for a randomisation check the layers randomised
    /// (left out otherwise, so the keys of trained-model maps did not change when the check was added).
    /// </summary>
    public static string For(string modelFingerprint, string imageFingerprint, ResolvedExplanation what, int qualitySteps)
    {
        var r = what.Request;
        string text = string.Join("\n",
            "vaccnn-explanation-v2", qualitySteps.ToString(System.Globalization.CultureInfo.InvariantCulture),
            modelFingerprint, imageFingerprint, what.Explainer.Id,
            what.Explainer.GetType().Assembly.ManifestModule.ModuleVersionId.ToString("N"),
            r.ClassIndex?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "pred",
            r.Layer ?? "", what.CanonicalSettings, r.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (what.RandomisedLayers > 0) text += "\nrandomised-top-layers=" + what.RandomisedLayers.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Fingerprint.OfText(text);
    }
}

/// <summary>
/// Finished explanations: a small in-memory LRU (bounded in bytes) over files <c>&lt;data&gt;/explanations/ab/&lt;key&gt;.vxm</c>
/// written atomically, so a crash never leaves a half-written entry and a restart keeps every finished map. The files
/// are bounded too: when they pass the disk budget, the least recently used (by modification time, which a hit
/// refreshes) are deleted down to 90 % of it.
/// <para>File format (little-endian): ASCII <c>VXM1</c>; int32 length of a UTF-8 JSON header; the header (key,
/// model, method, class, probability, layer, prediction, sizes, crop rectangle, millis, seed, deletion/insertion AUC
/// and curves); then the crop-resolution
/// map as float32, row-major. The original-resolution map is re-derived with <see cref="MapPlacement"/>
/// (deterministic), which keeps files 4–10× smaller.</para>
/// </summary>
public sealed class ExplanationCache
{
    private static ReadOnlySpan<byte> Magic => "VXM1"u8;
    private readonly string? _folder;
    private readonly long _budget;
    private readonly Lock _gate = new();
    private readonly LinkedList<ExplanationResult> _lru = new();
    private readonly Dictionary<string, LinkedListNode<ExplanationResult>> _byKey = new(StringComparer.Ordinal);
    private long _bytes;
    private readonly long _diskBudget;
    private readonly Lock _diskGate = new();
    private long _diskBytes = -1; // unknown until the first write scans the folder

    /// <summary>Creates the cache.</summary>
    /// <param name="folder">Folder for the files (created on first write); null = memory only.</param>
    /// <param name="memoryBudgetBytes">Memory the LRU may hold.</param>
    /// <param name="diskBudgetBytes">Bytes the files may take.</param>
    public ExplanationCache(string? folder, long memoryBudgetBytes, long diskBudgetBytes = long.MaxValue)
    {
        _folder = folder;
        _budget = memoryBudgetBytes;
        _diskBudget = diskBudgetBytes;
        if (folder == null) return;
        try { AtomicFile.CleanupStale(folder); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // a read-only data folder still serves what it holds
    }

    /// <summary>The cached explanation, from memory or disk, or null. A damaged file counts as a miss (and is removed).</summary>
    public ExplanationResult? TryGet(string key)
    {
        lock (_gate)
        {
            if (_byKey.TryGetValue(key, out var node))
            {
                _lru.Remove(node);
                _lru.AddFirst(node);
                return node.Value;
            }
        }
        string? file = PathOf(key);
        if (file == null || !File.Exists(file)) return null;
        ExplanationResult result;
        try { result = Read(file); }
        catch (Exception e) when (e is IOException or InvalidDataException or JsonException or ArgumentException)
        {
            try { File.Delete(file); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            return null;
        }
        if (result.Key != key) return null;
        // A hit makes the file recently used for the disk budget.
        try { File.SetLastWriteTimeUtc(file, DateTime.UtcNow); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        Remember(result);
        return result;
    }

    /// <summary>Stores a finished explanation (memory, then disk; a read-only disk only costs recomputation later).</summary>
    public void Put(ExplanationResult result)
    {
        Remember(result);
        if (PathOf(result.Key) is not { } file) return;
        try
        {
            AtomicFile.Write(file, s => Write(s, result));
            KeepWithinDiskBudget(new FileInfo(file).Length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    // Adds a written file to the running total; past the budget, deletes the least recently used files down to 90 %
    // of it. The total is rescanned then (other processes sharing the folder write to it too).
    private void KeepWithinDiskBudget(long written)
    {
        if (_folder == null || _diskBudget == long.MaxValue) return;
        lock (_diskGate)
        {
            _diskBytes = _diskBytes < 0 ? Files().Sum(f => f.Length) : _diskBytes + written;
            if (_diskBytes <= _diskBudget) return;
            long total = 0, target = _diskBudget / 10 * 9;
            bool full = false;
            foreach (var f in Files().OrderByDescending(f => f.LastWriteTimeUtc).ThenBy(f => f.Name, StringComparer.Ordinal).ToList())
            {
                // Newest first: keep files until the first that does not fit, delete it and everything older.
                if (!full && total + f.Length <= target) { total += f.Length; continue; }
                full = true;
                try { f.Delete(); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { total += f.Length; }
            }
            _diskBytes = total;
        }
    }

    private IEnumerable<FileInfo> Files() =>
        Directory.Exists(_folder) ? new DirectoryInfo(_folder).EnumerateFiles("*.vxm", SearchOption.AllDirectories) : [];

    /// <summary>Whether the key has a file on disk (for tests and diagnostics).</summary>
    public bool OnDisk(string key) => PathOf(key) is { } file && File.Exists(file);

    /// <summary>Whether the key is held in memory (for tests and diagnostics).</summary>
    public bool InMemory(string key) { lock (_gate) return _byKey.ContainsKey(key); }

    private void Remember(ExplanationResult result)
    {
        if (result.ApproximateBytes > _budget) return;
        lock (_gate)
        {
            if (_byKey.TryGetValue(result.Key, out var old)) { _lru.Remove(old); _bytes -= old.Value.ApproximateBytes; }
            _byKey[result.Key] = _lru.AddFirst(result);
            _bytes += result.ApproximateBytes;
            while (_bytes > _budget && _lru.Last is { } last)
            {
                _lru.RemoveLast();
                _byKey.Remove(last.Value.Key);
                _bytes -= last.Value.ApproximateBytes;
            }
        }
    }

    private string? PathOf(string key) =>
        _folder == null || key.Length < 8 || !key.All(char.IsAsciiHexDigitLower) ? null : Path.Combine(_folder, key[..2], key + ".vxm");

    private sealed record Header(string Key, string Model, string Method, int ClassIndex, float Probability, string? Layer,
        int PredictedIndex, float PredictedProbability, int ImageWidth, int ImageHeight, double CropX, double CropY,
        double CropWidth, double CropHeight, int MapWidth, int MapHeight, long Millis, int Seed, ExplanationQuality? Quality = null, string? ComputedBy = null);

    private static void Write(Stream s, ExplanationResult r)
    {
        var m = r.CropMap;
        var header = JsonSerializer.SerializeToUtf8Bytes(new Header(r.Key, r.ModelId, r.Method, m.ClassIndex, m.Probability, m.Layer,
            r.PredictedIndex, r.PredictedProbability, r.ImageWidth, r.ImageHeight, r.Crop.X, r.Crop.Y, r.Crop.Width, r.Crop.Height,
            m.Width, m.Height, r.Millis, r.Seed, r.Quality, r.ComputedBy));
        s.Write(Magic);
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(len, header.Length);
        s.Write(len);
        s.Write(header);
        s.Write(MemoryMarshal.AsBytes(m.Values.AsSpan()));
    }

    private static ExplanationResult Read(string file)
    {
        var bytes = File.ReadAllBytes(file);
        if (bytes.Length < 8 || !bytes.AsSpan(0, 4).SequenceEqual(Magic)) throw new InvalidDataException($"{file}: not a cached explanation");
        int len = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4));
        if (len <= 0 || len > bytes.Length - 8) throw new InvalidDataException($"{file}: bad header length");
        var h = JsonSerializer.Deserialize<Header>(bytes.AsSpan(8, len)) ?? throw new InvalidDataException($"{file}: empty header");
        long count = (long)h.MapWidth * h.MapHeight;
        if (h.MapWidth < 1 || h.MapHeight < 1 || bytes.Length - 8 - len != count * 4)
            throw new InvalidDataException($"{file}: truncated map");
        var values = MemoryMarshal.Cast<byte, float>(bytes.AsSpan(8 + len)).ToArray();
        return new ExplanationResult
        {
            Key = h.Key, ModelId = h.Model, Method = h.Method,
            CropMap = new SaliencyMap(h.MapWidth, h.MapHeight, values, h.ClassIndex, h.Probability, h.Layer),
            Crop = new CropRect(h.CropX, h.CropY, h.CropWidth, h.CropHeight),
            ImageWidth = h.ImageWidth, ImageHeight = h.ImageHeight,
            PredictedIndex = h.PredictedIndex, PredictedProbability = h.PredictedProbability,
            Millis = h.Millis, Seed = h.Seed, Quality = h.Quality, ComputedBy = h.ComputedBy,
        };
    }
}
