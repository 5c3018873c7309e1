using VacCnn.Engine.Store;
using VacCnn.TestSupport;

namespace VacCnn.Distributed.Tests;

/// <summary>
/// The store's guarantees under concurrency, on both databases: many "workers" (threads, each with its own store
/// object and connections, as separate processes would have) race for the same shard, commit and run.
/// </summary>
public class SharedStoreTests
{
    [PostgresFact]
    public void Postgres_schema_creation_by_processes_starting_together_does_not_fail()
    {
        using var pg = PrivatePostgres.Start();
        using var data = new TempDir();
        // Concurrent CREATE TABLE IF NOT EXISTS fails in PostgreSQL without the store's advisory lock.
        Parallel.For(0, 6, new ParallelOptions { MaxDegreeOfParallelism = 6 }, _ => new ResultStore(data.Path, StoreDatabase.Postgres(pg.ConnectionString)).ListRuns());
        var store = new ResultStore(data.Path, StoreDatabase.Postgres(pg.ConnectionString));
        Assert.Empty(store.ListRuns());
        Assert.True(store.IsShared);
    }

    [PostgresFact]
    public void Postgres_shards_are_claimed_committed_and_completed_exactly_once()
    {
        using var pg = PrivatePostgres.Start();
        using var data = new TempDir();
        Races(() => new ResultStore(data.Path, StoreDatabase.Postgres(pg.ConnectionString)));
    }

    [Fact]
    public void Sqlite_shards_are_claimed_committed_and_completed_exactly_once()
    {
        using var data = new TempDir();
        Races(() => new ResultStore(data.Path));
    }

    private static void Races(Func<ResultStore> open)
    {
        const int workers = 8;
        var stores = Enumerable.Range(0, workers).Select(_ => open()).ToArray();
        // Everyone plans the same run at once: one run, one set of shards.
        var runs = new RunInfo[workers];
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, i => runs[i] = stores[i].GetOrCreateRun("m", "fpM", "fpI", "/imgs", 10, 4));
        Assert.Single(runs.Select(r => r.RunId).Distinct());
        string runId = runs[0].RunId;
        Assert.Equal([4, 4, 2], stores[0].GetShards(runId).Select(s => s.Count));

        // Everyone claims shard 0 at once: exactly one wins, the others see a live holder.
        var claims = new ShardClaim[workers];
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, i => claims[i] = stores[i].TryClaimShard(runId, 0, TimeSpan.FromMinutes(1)));
        var winner = Assert.Single(claims, c => c.Result == ShardClaimResult.Claimed);
        Assert.All(claims.Where(c => c != winner), c => Assert.Equal(ShardClaimResult.Busy, c.Result));

        // A loser cannot commit (fenced by the lease); the winner can, once.
        var rows = Enumerable.Range(0, 4).Select(i => new PredictionRow(i, $"f{i}", i % 3, [i % 3, 0, 1, 2, 3], [0.5f, 0.2f, 0.1f, 0.1f, 0.1f])).ToArray();
        var probs = Enumerable.Range(0, 4 * 3).Select(i => i / 12f).ToArray();
        var loser = claims.First(c => c != winner);
        Assert.False(stores[1].CommitShard(runId, 0, probs, 3, rows, [], 1, loser.Owner));
        Assert.True(stores[2].CommitShard(runId, 0, probs, 3, rows, [], 1, winner.Owner));
        Assert.Equal(ShardClaimResult.Done, stores[3].TryClaimShard(runId, 0, TimeSpan.FromMinutes(1)).Result);

        // Shard 1: no claims, everyone commits at once (duplicate jobs): one commit counts.
        var rows1 = rows.Select(r => r with { ImageIndex = r.ImageIndex + 4 }).ToArray();
        var won = new bool[workers];
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, i => won[i] = stores[i].CommitShard(runId, 1, probs, 3, rows1, [new SkipRow(99, "bad", "zero bytes")], 1));
        Assert.Single(won, w => w);

        // A lease that ran out is taken over, and the old holder's late commit is refused.
        var first = stores[0].TryClaimShard(runId, 2, TimeSpan.FromMilliseconds(1));
        Thread.Sleep(20);
        var second = stores[1].TryClaimShard(runId, 2, TimeSpan.FromMinutes(1));
        Assert.Equal(ShardClaimResult.Claimed, second.Result);
        Assert.False(stores[0].ReportShardProgress(runId, 2, 1, first.Owner, TimeSpan.FromMinutes(1)));
        var rows2 = rows.Take(2).Select(r => r with { ImageIndex = r.ImageIndex + 8 }).ToArray();
        Assert.False(stores[0].CommitShard(runId, 2, probs[..6], 3, rows2, [], 1, first.Owner));
        Assert.True(stores[1].CommitShard(runId, 2, probs[..6], 3, rows2, [], 1, second.Owner));

        var commits = stores[0].GetShardCommits(runId);
        Assert.Equal([0, 1, 2], commits.Select(c => c.Shard));
        Assert.Equal(10, stores[0].GetPredictions(runId).Count);
        Assert.Single(stores[0].GetSkips(runId));
        Assert.Equal(2, stores[0].GetShards(runId)[2].Attempts);

        // Everyone finalises at once: one completion.
        var summary = new EvaluationSummary("m", runId, 10, 1, 0.5, 0.9, new Dictionary<string, double> { ["animal"] = 0.5 });
        var completed = new bool[workers];
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, i =>
            completed[i] = stores[i].CompleteRun(runId, [new AccuracyRow("overall", "all", 10, 0.5, 0.9)], summary));
        Assert.Single(completed, c => c);
        Assert.Equal(RunStates.Done, stores[0].GetRun(runId)!.State);
        Assert.Single(stores[0].GetAccuracy(runId));
        Assert.NotNull(stores[0].FinalizedBy(runId));
        Assert.Equal(0.9, stores[0].GetSummary(runId)!.Top5);
    }
}
