using VacCnn.Contracts;
using VacCnn.Engine.Evaluation;
using VacCnn.Engine.Explanations;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Explanations;

/// <summary>The explanation cache's files: kept across instances, and bounded by the disk budget, least recently used first.</summary>
public sealed class ExplanationCacheTests
{
    private static ExplanationResult Result(string key, float fill) => new()
    {
        Key = key, ModelId = "m", Method = "gradcam",
        CropMap = new SaliencyMap(32, 32, Enumerable.Repeat(fill, 32 * 32).ToArray(), 3, 0.5f, "layer"),
        Crop = new CropRect(0, 0, 32, 32), ImageWidth = 32, ImageHeight = 32,
        PredictedIndex = 3, PredictedProbability = 0.5f, Millis = 1, Seed = 1,
    };

    private static string Key(char c) => new(c, 64);

    [Fact]
    public void Files_past_the_disk_budget_are_deleted_least_recently_used_first_and_a_hit_counts_as_a_use()
    {
        using var dir = new TempDir();
        string folder = dir.Combine("explanations");
        // Memory budget of one byte: every read below comes from disk.
        var probe = new ExplanationCache(folder, 1);
        probe.Put(Result(Key('f'), 0));
        long entry = Directory.GetFiles(folder, "*.vxm", SearchOption.AllDirectories).Select(f => new FileInfo(f).Length).Single();
        File.Delete(Directory.GetFiles(folder, "*.vxm", SearchOption.AllDirectories).Single());

        // Room for 3.5 entries: a fourth write goes over and trims to 90 % of the budget, i.e. the newest three.
        var cache = new ExplanationCache(folder, 1, entry * 7 / 2);
        var old = DateTime.UtcNow.AddHours(-1);
        string a = Key('a'), b = Key('b'), c = Key('c'), d = Key('d');
        foreach (var (key, i) in new[] { (a, 0), (b, 1), (c, 2) })
        {
            cache.Put(Result(key, i / 10f));
            // File times tick with the kernel's clock (milliseconds): set them apart explicitly.
            File.SetLastWriteTimeUtc(Directory.GetFiles(folder, key + ".vxm", SearchOption.AllDirectories).Single(), old.AddMinutes(i));
        }
        Assert.True(cache.OnDisk(a) && cache.OnDisk(b) && cache.OnDisk(c));

        Assert.Equal(0f, cache.TryGet(a)!.CropMap.Values[0]); // a is now the most recently used
        cache.Put(Result(d, 0.3f));

        Assert.False(cache.OnDisk(b), "the least recently used entry should have been deleted");
        Assert.True(cache.OnDisk(a) && cache.OnDisk(c) && cache.OnDisk(d));
        Assert.Null(cache.TryGet(b));
        var reopened = new ExplanationCache(folder, 1 << 20, entry * 7 / 2);
        Assert.Equal(0.2f, reopened.TryGet(c)!.CropMap.Values[0]);
        Assert.Equal(0.3f, reopened.TryGet(d)!.CropMap.Values[0]);
        Assert.True(Directory.GetFiles(folder, "*.vxm", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length) <= entry * 7 / 2);
    }
}
