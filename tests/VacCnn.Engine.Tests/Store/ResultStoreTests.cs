using VacCnn.Engine.Store;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Store;

public class ResultStoreTests
{
    [Fact]
    public void Planning_is_idempotent_and_shards_cover_the_set_exactly_once()
    {
        using var dir = new TempDir();
        var store = new ResultStore(dir.Path);
        var a = store.GetOrCreateRun("m", "fpM", "fpI", "/imgs", 1003, 100);
        var b = new ResultStore(dir.Path).GetOrCreateRun("m", "fpM", "fpI", "/imgs", 1003, 50); // another process, other shard size
        Assert.Equal(a.RunId, b.RunId);
        Assert.Equal(100, b.ShardSize); // the existing plan wins
        var shards = store.GetShards(a.RunId);
        Assert.Equal(11, shards.Count);
        Assert.Equal(Enumerable.Range(0, 1003), shards.SelectMany(s => Enumerable.Range(s.Start, s.Count)));
        Assert.NotEqual(a.RunId, store.GetOrCreateRun("m", "fpM2", "fpI", "/imgs", 1003, 100).RunId); // model changed → new run
    }

    [Fact]
    public void Committing_a_shard_twice_replaces_rather_than_duplicates()
    {
        using var dir = new TempDir();
        var store = new ResultStore(dir.Path);
        var run = store.GetOrCreateRun("m", "a", "b", "/x", 4, 2);
        PredictionRow Row(int i) => new(i, $"f{i}.jpg", i % 3, [i % 3, 1, 2, 3, 4], [0.5f, 0.2f, 0.1f, 0.1f, 0.1f]);
        var probs = new float[2 * 3];
        store.CommitShard(run.RunId, 0, probs, 3, [Row(0), Row(1)], [], 1.0);
        store.CommitShard(run.RunId, 0, probs, 3, [Row(0), Row(1)], [], 1.0);
        store.CommitShard(run.RunId, 1, new float[3], 3, [Row(2)], [new SkipRow(3, "f3.jpg", "zero bytes")], 1.0);
        Assert.Equal(3, store.GetPredictions(run.RunId).Count);
        Assert.Single(store.GetSkips(run.RunId));
        var progress = store.GetProgress(run.RunId);
        Assert.Equal(2, progress.ShardsDone);
        Assert.Equal(3, progress.ImagesDone);
        Assert.Equal(1, progress.Skipped);
        Assert.Equal(1.0, progress.Fraction);
    }

    [Fact]
    public void Schedules_survive_reopening()
    {
        using var dir = new TempDir();
        new ResultStore(dir.Path).SaveSchedule(new ScheduleInfo("nightly", "0 3 * * *", null, DateTime.UtcNow));
        var s = Assert.Single(new ResultStore(dir.Path).ListSchedules());
        Assert.Equal("0 3 * * *", s.Cron);
    }
}
