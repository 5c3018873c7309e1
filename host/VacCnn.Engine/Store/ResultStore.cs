using System.Data.Common;
using System.Globalization;
using System.Text.Json;

using VacCnn.Engine.Evaluation;

namespace VacCnn.Engine.Store;

/// <summary>
/// Durable results: a database for run records, shards, predictions and accuracy tables — embedded SQLite
/// (<c>vaccnn.db</c> in the data directory) or a shared PostgreSQL (see <see cref="StoreDatabase"/>) — and NumPy
/// <c>.npy</c> matrices under <c>runs/&lt;runId&gt;/</c> of the data directory (a shared folder when several workers
/// run): <c>confidence.npy</c> (float32 [images, classes] softmax probabilities), <c>labels.npy</c> (int32 ground truth
/// per row) and <c>image_index.npy</c> (int32 position of each row's image in the image set; skipped images have no
/// row). Every write is atomic (temp file + rename, database transactions), so a crash never leaves a half-written
/// result. Shards are leased to one worker at a time and committed at most once (<see cref="TryClaimShard"/>,
/// <see cref="CommitShard"/>), and a run is completed at most once, so concurrent workers never double-count.
/// </summary>
public sealed partial class ResultStore
{
    private readonly StoreDatabase _db;

    /// <summary>Opens (creating if needed) the embedded store in <paramref name="dataDirectory"/>.</summary>
    public ResultStore(string dataDirectory) : this(dataDirectory, null) { }

    /// <summary>
    /// Opens (creating tables if needed) the store: matrices under <paramref name="dataDirectory"/>, tables in
    /// <paramref name="database"/> (null: the embedded SQLite file in the data directory).
    /// </summary>
    public ResultStore(string dataDirectory, StoreDatabase? database)
    {
        DataDirectory = Path.GetFullPath(dataDirectory);
        try
        {
            Directory.CreateDirectory(DataDirectory);
            Directory.CreateDirectory(RunsDirectory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"the data directory '{DataDirectory}' cannot be written: {e.Message}", e);
        }
        AtomicFile.CleanupStale(RunsDirectory);
        _db = database ?? StoreDatabase.Sqlite(DataDirectory);
        CreateSchema();
    }

    /// <summary>The data directory.</summary>
    public string DataDirectory { get; }

    /// <summary>Where the tables are (SQLite file or PostgreSQL server/database).</summary>
    public string DatabaseDescription => _db.Description;

    /// <summary>True when the tables are in a database several machines share.</summary>
    public bool IsShared => _db.IsShared;

    private string RunsDirectory => Path.Combine(DataDirectory, "runs");

    /// <summary>Folder of a run's matrices.</summary>
    public string RunDirectory(string runId) => Path.Combine(RunsDirectory, runId);

    /// <summary>Path of a shard's probability matrix.</summary>
    public string ShardMatrixPath(string runId, int shard) => Path.Combine(RunDirectory(runId), $"shard-{shard:D5}.npy");

    /// <summary>Path of a finished run's confidence matrix.</summary>
    public string ConfidencePath(string runId) => Path.Combine(RunDirectory(runId), "confidence.npy");

    /// <summary>Path of a finished run's ground-truth labels (one per confidence row).</summary>
    public string LabelsPath(string runId) => Path.Combine(RunDirectory(runId), "labels.npy");

    /// <summary>Path of a finished run's image positions (one per confidence row).</summary>
    public string ImageIndexPath(string runId) => Path.Combine(RunDirectory(runId), "image_index.npy");

    /// <summary>The run id for a (model, image set) pair: stable, so unchanged work is found again.</summary>
    public static string RunIdFor(string modelFingerprint, string imageSetFingerprint) =>
        Fingerprint.OfText(modelFingerprint + "|" + imageSetFingerprint + "|" + ImagePreprocessor.Version)[..24];

    private DbConnection Open() => _db.Open();

    // Types both dialects accept: SQLite maps DOUBLE PRECISION to REAL affinity (8 bytes); PostgreSQL's REAL would
    // be 4 bytes and round accuracies.
    private void CreateSchema()
    {
        if (SchemaIsCurrent()) return;
        using var c = Open();
        using var tx = _db.BeginWrite(c);
        _db.LockSchema(c, tx);
        Exec(c, tx, """
            CREATE TABLE IF NOT EXISTS runs (
              run_id TEXT PRIMARY KEY, model_id TEXT NOT NULL, model_fp TEXT NOT NULL, imageset_fp TEXT NOT NULL,
              images_root TEXT NOT NULL, total_images INTEGER NOT NULL, shard_size INTEGER NOT NULL,
              shard_count INTEGER NOT NULL, state TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL,
              error TEXT, summary TEXT);
            CREATE TABLE IF NOT EXISTS shards (
              run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE, shard_index INTEGER NOT NULL,
              start INTEGER NOT NULL, count INTEGER NOT NULL, state TEXT NOT NULL, images_done INTEGER NOT NULL DEFAULT 0,
              skipped INTEGER NOT NULL DEFAULT 0, seconds DOUBLE PRECISION NOT NULL DEFAULT 0, finished TEXT, attempts INTEGER NOT NULL DEFAULT 0,
              PRIMARY KEY (run_id, shard_index));
            CREATE TABLE IF NOT EXISTS predictions (
              run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE, image_index INTEGER NOT NULL,
              shard_index INTEGER NOT NULL, shard_row INTEGER NOT NULL, rel_path TEXT NOT NULL, label INTEGER NOT NULL,
              top5 TEXT NOT NULL, top5_prob TEXT NOT NULL, PRIMARY KEY (run_id, image_index));
            CREATE TABLE IF NOT EXISTS skips (
              run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE, image_index INTEGER NOT NULL,
              rel_path TEXT NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (run_id, image_index));
            CREATE TABLE IF NOT EXISTS accuracy (
              run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE, scope TEXT NOT NULL, key TEXT NOT NULL,
              count INTEGER NOT NULL, top1 DOUBLE PRECISION NOT NULL, top5 DOUBLE PRECISION NOT NULL, PRIMARY KEY (run_id, scope, key));
            CREATE TABLE IF NOT EXISTS schedules (
              id TEXT PRIMARY KEY, cron TEXT NOT NULL, model_id TEXT, created TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS shard_commits (
              run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE, shard_index INTEGER NOT NULL,
              owner TEXT NOT NULL, committed TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS runs_by_model ON runs(model_id, updated);
            """);
        CreateBatchTables(c, tx);
        // Columns added after the first release: stores created earlier get them here.
        AddColumnIfMissing(c, tx, "shards", "owner", "TEXT");
        AddColumnIfMissing(c, tx, "shards", "lease_until", "TEXT");
        AddColumnIfMissing(c, tx, "runs", "finalized_by", "TEXT");
        AddColumnIfMissing(c, tx, "schedules", "precompute", "TEXT");
        tx.Commit();
    }

    // Every table and the newest columns, in one read: a store that already has them starts without taking the
    // schema lock, so workers starting together only queue behind each other on a brand-new database.
    private bool SchemaIsCurrent()
    {
        try
        {
            using var c = Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = """
                SELECT r.finalized_by, s.owner, s.lease_until
                , b.started, i.worker, h.precompute
                FROM runs r, shards s, predictions p, skips k, accuracy a, schedules h, shard_commits m,
                     explanation_batches b, explanation_batch_items i WHERE 1 = 0
                """;
            using var reader = cmd.ExecuteReader();
            return true;
        }
        catch (DbException)
        {
            return false;
        }
    }

    private static void AddColumnIfMissing(DbConnection c, DbTransaction tx, string table, string column, string type)
    {
        using (var cmd = c.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = $"SELECT * FROM {table} WHERE 1 = 0";
            using var r = cmd.ExecuteReader();
            for (int i = 0; i < r.FieldCount; i++)
                if (string.Equals(r.GetName(i), column, StringComparison.OrdinalIgnoreCase)) return;
        }
        Exec(c, tx, $"ALTER TABLE {table} ADD COLUMN {column} {type}");
    }

    private static DbCommand Command(DbConnection c, DbTransaction? tx, string sql, params (string, object?)[] args)
    {
        var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        foreach (var (n, v) in args) AddParameter(cmd, n, v);
        return cmd;
    }

    private static DbParameter AddParameter(DbCommand cmd, string name, object? value)
    {
        var p = cmd.CreateParameter();
        p.ParameterName = name;
        p.Value = value ?? DBNull.Value;
        cmd.Parameters.Add(p);
        return p;
    }

    private static int Exec(DbConnection c, DbTransaction? tx, string sql, params (string, object?)[] args)
    {
        using var cmd = Command(c, tx, sql, args);
        return cmd.ExecuteNonQuery();
    }

    private static string Now() => Stamp(DateTime.UtcNow);
    // Fixed-width UTC text: compares in time order as plain strings in both dialects (used for leases).
    private static string Stamp(DateTime utc) => utc.ToString("O", CultureInfo.InvariantCulture);
    private static DateTime Time(string s) => DateTime.Parse(s, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);

    // ---------------------------------------------------------------- runs

    /// <summary>
    /// Returns the run for (model, image set), creating it with its shards when new. Idempotent: calling it again
    /// (from a retried job, or another process) returns the existing run unchanged.
    /// </summary>
    public RunInfo GetOrCreateRun(string modelId, string modelFp, string imageSetFp, string imagesRoot, int totalImages, int shardSize)
    {
        string runId = RunIdFor(modelFp, imageSetFp);
        using (var c = Open())
        using (var tx = _db.BeginWrite(c))
        {
            int shardCount = totalImages == 0 ? 0 : (totalImages + shardSize - 1) / shardSize;
            int inserted = Exec(c, tx, """
                INSERT INTO runs(run_id, model_id, model_fp, imageset_fp, images_root, total_images, shard_size, shard_count, state, created, updated)
                VALUES (@id, @m, @mfp, @ifp, @root, @total, @ss, @sc, @state, @now, @now) ON CONFLICT (run_id) DO NOTHING
                """, ("@id", runId), ("@m", modelId), ("@mfp", modelFp), ("@ifp", imageSetFp), ("@root", imagesRoot),
                ("@total", totalImages), ("@ss", shardSize), ("@sc", shardCount), ("@state", RunStates.Pending), ("@now", Now()));
            if (inserted == 1)
                for (int s = 0; s < shardCount; s++)
                {
                    int start = s * shardSize;
                    Exec(c, tx, "INSERT INTO shards(run_id, shard_index, start, count, state) VALUES (@id, @s, @start, @n, @st)",
                        ("@id", runId), ("@s", s), ("@start", start), ("@n", Math.Min(shardSize, totalImages - start)), ("@st", RunStates.Pending));
                }
            tx.Commit();
        }
        return GetRun(runId)!;
    }

    /// <summary>The run with this id, or null.</summary>
    public RunInfo? GetRun(string runId)
    {
        using var c = Open();
        return QueryRuns(c, "WHERE run_id = @id", ("@id", runId)).FirstOrDefault();
    }

    /// <summary>All runs, newest first.</summary>
    public IReadOnlyList<RunInfo> ListRuns() { using var c = Open(); return QueryRuns(c, "ORDER BY created DESC"); }

    /// <summary>Runs not yet done (pending or running): the ones to resume after a restart.</summary>
    public IReadOnlyList<RunInfo> UnfinishedRuns()
    {
        using var c = Open();
        return QueryRuns(c, "WHERE state IN ('pending','running') ORDER BY created", []);
    }

    /// <summary>The finished run of a model on an image set, if any.</summary>
    public RunInfo? FinishedRun(string modelFp, string imageSetFp)
    {
        var run = GetRun(RunIdFor(modelFp, imageSetFp));
        return run?.State == RunStates.Done ? run : null;
    }

    /// <summary>The most recent finished run of each model id (for overview tables).</summary>
    public IReadOnlyList<RunInfo> LatestFinishedRuns(string? imageSetFp = null)
    {
        using var c = Open();
        var runs = imageSetFp == null
            ? QueryRuns(c, "WHERE state = 'done' ORDER BY updated DESC")
            : QueryRuns(c, "WHERE state = 'done' AND imageset_fp = @ifp ORDER BY updated DESC", ("@ifp", imageSetFp));
        return runs.GroupBy(r => r.ModelId).Select(g => g.First()).OrderBy(r => r.ModelId, StringComparer.Ordinal).ToList();
    }

    private static List<RunInfo> QueryRuns(DbConnection c, string where, params (string, object?)[] args)
    {
        using var cmd = Command(c, null, "SELECT run_id, model_id, model_fp, imageset_fp, images_root, total_images, shard_size, shard_count, state, created, updated, error FROM runs " + where, args);
        using var r = cmd.ExecuteReader();
        var list = new List<RunInfo>();
        while (r.Read())
            list.Add(new RunInfo(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetInt32(5),
                r.GetInt32(6), r.GetInt32(7), r.GetString(8), Time(r.GetString(9)), Time(r.GetString(10)), r.IsDBNull(11) ? null : r.GetString(11)));
        return list;
    }

    /// <summary>Sets a run's state (and error text).</summary>
    public void SetRunState(string runId, string state, string? error = null)
    {
        using var c = Open();
        Exec(c, null, "UPDATE runs SET state = @s, error = @e, updated = @now WHERE run_id = @id",
            ("@s", state), ("@e", error), ("@now", Now()), ("@id", runId));
    }

    /// <summary>Deletes a run and its matrices (so it is computed again).</summary>
    public void DeleteRun(string runId)
    {
        using (var c = Open()) Exec(c, null, "DELETE FROM runs WHERE run_id = @id", ("@id", runId));
        if (Directory.Exists(RunDirectory(runId))) Directory.Delete(RunDirectory(runId), recursive: true);
    }

    // ---------------------------------------------------------------- shards

    /// <summary>All shards of a run, in order.</summary>
    public IReadOnlyList<ShardInfo> GetShards(string runId)
    {
        using var c = Open();
        using var cmd = Command(c, null, "SELECT shard_index, start, count, state, images_done, skipped, seconds, finished, attempts, owner, lease_until FROM shards WHERE run_id = @id ORDER BY shard_index", ("@id", runId));
        using var r = cmd.ExecuteReader();
        var list = new List<ShardInfo>();
        while (r.Read())
            list.Add(new ShardInfo(runId, r.GetInt32(0), r.GetInt32(1), r.GetInt32(2), r.GetString(3), r.GetInt32(4), r.GetInt32(5),
                r.GetDouble(6), r.IsDBNull(7) ? null : Time(r.GetString(7)))
            {
                Attempts = r.GetInt32(8),
                Owner = r.IsDBNull(9) ? null : r.GetString(9),
                LeaseUntilUtc = r.IsDBNull(10) || r.GetString(10).Length == 0 ? null : Time(r.GetString(10)),
            });
        return list;
    }

    /// <summary>
    /// The passes still to run for <paramref name="runIds"/>: runs over the same image set (root and fingerprint) with
    /// the same shard boundaries share one pass per shard index (<see cref="Evaluation.EvaluationService.RunShards"/>),
    /// listing the runs whose shard is not done, in input order. Runs with no shard left are in
    /// <see cref="SharedPasses.Complete"/>. Each run's shards are read once.
    /// </summary>
    public SharedPasses PlanSharedPasses(IReadOnlyList<string> runIds)
    {
        var groups = new Dictionary<string, List<(string Id, IReadOnlyList<ShardInfo> Shards)>>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var id in runIds.Distinct(StringComparer.Ordinal))
        {
            var run = GetRun(id) ?? throw new KeyNotFoundException($"no run '{id}'");
            var shards = GetShards(id);
            string key = $"{run.ImagesRoot}|{run.ImageSetFingerprint}|{string.Join(",", shards.Select(s => $"{s.Start}+{s.Count}"))}";
            if (!groups.TryGetValue(key, out var list)) { groups[key] = list = []; order.Add(key); }
            list.Add((id, shards));
        }
        var passes = new List<(int, string[])>();
        var complete = new List<string>();
        foreach (var group in order.Select(k => groups[k]))
        {
            for (int k = 0; k < group[0].Shards.Count; k++)
            {
                string[] todo = group.Where(r => r.Shards[k].State != RunStates.Done).Select(r => r.Id).ToArray();
                if (todo.Length > 0) passes.Add((k, todo));
            }
            complete.AddRange(group.Where(r => r.Shards.All(s => s.State == RunStates.Done)).Select(r => r.Id));
        }
        return new SharedPasses(passes, complete);
    }

    /// <summary>
    /// Takes the lease on a shard for <paramref name="lease"/>, unless it is committed (<see cref="ShardClaimResult.Done"/>)
    /// or a live worker holds an unexpired lease (<see cref="ShardClaimResult.Busy"/>). A lease whose holder is known
    /// to be dead (<see cref="ShardOwner.IsGone"/>) or has run out is taken over. The take-over is a compare-and-set on
    /// the previous holder, so of two workers racing for a shard exactly one wins. Counts attempts and marks the run
    /// running.
    /// </summary>
    public ShardClaim TryClaimShard(string runId, int shard, TimeSpan lease)
    {
        string me = ShardOwner.NewClaim();
        for (int attempt = 0; attempt < 5; attempt++)
        {
            string state, prevOwner, prevLease;
            using (var c = Open())
            using (var cmd = Command(c, null, "SELECT state, owner, lease_until FROM shards WHERE run_id = @id AND shard_index = @s", ("@id", runId), ("@s", shard)))
            using (var r = cmd.ExecuteReader())
            {
                if (!r.Read()) throw new KeyNotFoundException($"run '{runId}' has no shard {shard}");
                state = r.GetString(0);
                prevOwner = r.IsDBNull(1) ? "" : r.GetString(1);
                prevLease = r.IsDBNull(2) ? "" : r.GetString(2);
            }
            if (state == RunStates.Done) return new ShardClaim(ShardClaimResult.Done, me, null);
            var now = DateTime.UtcNow;
            DateTime? prevUntil = prevLease.Length > 0 ? Time(prevLease) : null;
            if (ShardOwner.HoldsLease(prevOwner, prevUntil, now))
                return new ShardClaim(ShardClaimResult.Busy, me, prevUntil);

            using var c2 = Open();
            using var tx = _db.BeginWrite(c2);
            int taken = Exec(c2, tx, """
                UPDATE shards SET owner = @me, lease_until = @until, attempts = attempts + 1, state = 'running', images_done = 0
                WHERE run_id = @id AND shard_index = @s AND state <> 'done' AND COALESCE(owner, '') = @prev AND COALESCE(lease_until, '') = @prevLease
                """, ("@me", me), ("@until", Stamp(now + lease)), ("@id", runId), ("@s", shard), ("@prev", prevOwner), ("@prevLease", prevLease));
            if (taken == 1)
                Exec(c2, tx, "UPDATE runs SET state = 'running', updated = @now WHERE run_id = @id AND state = 'pending'", ("@id", runId), ("@now", Stamp(now)));
            tx.Commit();
            if (taken == 1) return new ShardClaim(ShardClaimResult.Claimed, me, null);
            // Someone else changed the row between our read and our write: look again.
        }
        return new ShardClaim(ShardClaimResult.Busy, me, DateTime.UtcNow + lease);
    }

    /// <summary>Gives a lease back early (the holder failed), so another attempt need not wait for it to run out.</summary>
    public void ReleaseShard(string runId, int shard, string owner)
    {
        using var c = Open();
        Exec(c, null, "UPDATE shards SET owner = NULL, lease_until = NULL WHERE run_id = @id AND shard_index = @s AND owner = @me AND state <> 'done'",
            ("@id", runId), ("@s", shard), ("@me", owner));
    }

    /// <summary>
    /// Live progress inside a running shard (images processed so far). With an <paramref name="owner"/>, also extends
    /// its lease by <paramref name="lease"/>; returns false when the lease was lost to another worker (stop working).
    /// </summary>
    public bool ReportShardProgress(string runId, int shard, int imagesDone, string? owner = null, TimeSpan lease = default)
    {
        using var c = Open();
        return owner == null
            ? Exec(c, null, "UPDATE shards SET images_done = @n WHERE run_id = @id AND shard_index = @s AND state <> 'done'",
                ("@n", imagesDone), ("@id", runId), ("@s", shard)) >= 0
            : Exec(c, null, "UPDATE shards SET images_done = @n, lease_until = @until WHERE run_id = @id AND shard_index = @s AND state <> 'done' AND owner = @me",
                ("@n", imagesDone), ("@until", Stamp(DateTime.UtcNow + lease)), ("@id", runId), ("@s", shard), ("@me", owner)) == 1;
    }

    /// <summary>
    /// Commits a finished shard: its matrix is written atomically first, then predictions, skips, the done flag and
    /// a commit record in one transaction. A shard is committed at most once: a second commit (a duplicate job, a
    /// worker that lost its lease) changes nothing and returns false. With an <paramref name="owner"/>, only the
    /// current lease holder may commit.
    /// </summary>
    public bool CommitShard(string runId, int shard, float[] probabilities, int classCount,
        IReadOnlyList<PredictionRow> predictions, IReadOnlyList<SkipRow> skips, double seconds, string? owner = null)
    {
        if (probabilities.Length != predictions.Count * classCount)
            throw new ArgumentException("probability rows and predictions disagree");
        // Identical content whoever writes it (same model, same images), and the rename is atomic.
        Npy.WriteFile(ShardMatrixPath(runId, shard), probabilities, predictions.Count, classCount);
        using var c = Open();
        using var tx = _db.BeginWrite(c);
        string now = Now();
        // First, so that concurrent commits of one shard queue on this row and all but the first find it done.
        int won = Exec(c, tx, "UPDATE shards SET state = 'done', images_done = @n, skipped = @k, seconds = @sec, finished = @now, lease_until = NULL WHERE run_id = @id AND shard_index = @s AND state <> 'done'"
                              + (owner != null ? " AND owner = @me" : ""),
            [("@n", predictions.Count), ("@k", skips.Count), ("@sec", seconds), ("@now", now), ("@id", runId), ("@s", shard), .. (owner != null ? new[] { ("@me", (object?)owner) } : [])]);
        if (won != 1)
        {
            tx.Rollback();
            return false;
        }
        Exec(c, tx, "DELETE FROM predictions WHERE run_id = @id AND shard_index = @s", ("@id", runId), ("@s", shard));
        using (var cmd = Command(c, tx, """
            INSERT INTO predictions(run_id, image_index, shard_index, shard_row, rel_path, label, top5, top5_prob) VALUES (@id, @i, @s, @row, @p, @l, @t, @tp)
            ON CONFLICT (run_id, image_index) DO UPDATE SET shard_index = excluded.shard_index, shard_row = excluded.shard_row,
              rel_path = excluded.rel_path, label = excluded.label, top5 = excluded.top5, top5_prob = excluded.top5_prob
            """, ("@id", runId), ("@s", shard)))
        {
            var pi = AddParameter(cmd, "@i", 0);
            var prow = AddParameter(cmd, "@row", 0);
            var pp = AddParameter(cmd, "@p", "");
            var pl = AddParameter(cmd, "@l", 0);
            var pt = AddParameter(cmd, "@t", "");
            var ptp = AddParameter(cmd, "@tp", "");
            for (int row = 0; row < predictions.Count; row++)
            {
                var p = predictions[row];
                pi.Value = p.ImageIndex; prow.Value = row; pp.Value = p.RelativePath; pl.Value = p.Label;
                pt.Value = string.Join(",", p.Top5);
                ptp.Value = string.Join(",", p.Top5Probabilities.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
                cmd.ExecuteNonQuery();
            }
        }
        foreach (var s in skips)
            Exec(c, tx, "INSERT INTO skips(run_id, image_index, rel_path, reason) VALUES (@id, @i, @p, @r) ON CONFLICT (run_id, image_index) DO UPDATE SET rel_path = excluded.rel_path, reason = excluded.reason",
                ("@id", runId), ("@i", s.ImageIndex), ("@p", s.RelativePath), ("@r", s.Reason));
        Exec(c, tx, "INSERT INTO shard_commits(run_id, shard_index, owner, committed) VALUES (@id, @s, @me, @now)",
            ("@id", runId), ("@s", shard), ("@me", owner ?? ShardOwner.NewClaim()), ("@now", now));
        Exec(c, tx, "UPDATE runs SET updated = @now WHERE run_id = @id", ("@now", now), ("@id", runId));
        tx.Commit();
        return true;
    }

    /// <summary>Every commit of every shard of a run (exactly one per shard when all went well).</summary>
    public IReadOnlyList<ShardCommitRecord> GetShardCommits(string runId)
    {
        using var c = Open();
        using var cmd = Command(c, null, "SELECT shard_index, owner, committed FROM shard_commits WHERE run_id = @id ORDER BY shard_index, committed", ("@id", runId));
        using var r = cmd.ExecuteReader();
        var list = new List<ShardCommitRecord>();
        while (r.Read()) list.Add(new ShardCommitRecord(runId, r.GetInt32(0), r.GetString(1), Time(r.GetString(2))));
        return list;
    }

    /// <summary>Predictions of a run ordered by image index (optionally one shard only).</summary>
    public IReadOnlyList<PredictionRow> GetPredictions(string runId, int? shard = null)
    {
        using var c = Open();
        using var cmd = Command(c, null, "SELECT image_index, rel_path, label, top5, top5_prob FROM predictions WHERE run_id = @id"
                                         + (shard.HasValue ? " AND shard_index = @s ORDER BY shard_row" : " ORDER BY image_index"),
            [("@id", runId), .. (shard.HasValue ? new[] { ("@s", (object?)shard.Value) } : [])]);
        using var r = cmd.ExecuteReader();
        var list = new List<PredictionRow>();
        while (r.Read())
            list.Add(new PredictionRow(r.GetInt32(0), r.GetString(1), r.GetInt32(2),
                r.GetString(3).Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray(),
                r.GetString(4).Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => float.Parse(s, CultureInfo.InvariantCulture)).ToArray()));
        return list;
    }

    /// <summary>Files skipped in a run, with reasons.</summary>
    public IReadOnlyList<SkipRow> GetSkips(string runId)
    {
        using var c = Open();
        using var cmd = Command(c, null, "SELECT image_index, rel_path, reason FROM skips WHERE run_id = @id ORDER BY image_index", ("@id", runId));
        using var r = cmd.ExecuteReader();
        var list = new List<SkipRow>();
        while (r.Read()) list.Add(new SkipRow(r.GetInt32(0), r.GetString(1), r.GetString(2)));
        return list;
    }

    /// <summary>Progress of a run, with throughput and ETA from the finished shards' timings.</summary>
    public RunProgress GetProgress(string runId)
    {
        var run = GetRun(runId) ?? throw new KeyNotFoundException($"no run '{runId}'");
        var shards = GetShards(runId);
        var done = shards.Where(s => s.State == RunStates.Done).ToList();
        int imagesDone = shards.Sum(s => s.ImagesDone);
        int skipped = shards.Sum(s => s.Skipped);
        double seconds = done.Sum(s => s.Seconds);
        int doneImages = done.Sum(s => s.ImagesDone + s.Skipped);
        double rate = seconds > 0 ? done.Sum(s => s.ImagesDone) / seconds : 0;
        TimeSpan? eta = run.State == RunStates.Done ? TimeSpan.Zero
            : rate > 0 ? TimeSpan.FromSeconds((run.TotalImages - doneImages) / rate) : null;
        return new RunProgress(run, done.Count, imagesDone, skipped, rate, eta);
    }

    // ---------------------------------------------------------------- results

    /// <summary>
    /// Stores the accuracy tables and summary of a run and marks it done, in one transaction. A run is completed at
    /// most once: when another finaliser got there first this changes nothing and returns false.
    /// </summary>
    public bool CompleteRun(string runId, IReadOnlyList<AccuracyRow> accuracy, EvaluationSummary summary)
    {
        using var c = Open();
        using var tx = _db.BeginWrite(c);
        // First, so that concurrent finalisers queue on the run row and the later ones find it done.
        int won = Exec(c, tx, "UPDATE runs SET state = 'done', error = NULL, summary = @sum, updated = @now, finalized_by = @me WHERE run_id = @id AND state <> 'done'",
            ("@sum", JsonSerializer.Serialize(summary)), ("@now", Now()), ("@me", ShardOwner.NewClaim()), ("@id", runId));
        if (won != 1)
        {
            tx.Rollback();
            return false;
        }
        Exec(c, tx, "DELETE FROM accuracy WHERE run_id = @id", ("@id", runId));
        foreach (var a in accuracy)
            Exec(c, tx, "INSERT INTO accuracy(run_id, scope, key, count, top1, top5) VALUES (@id, @sc, @k, @n, @t1, @t5)",
                ("@id", runId), ("@sc", a.Scope), ("@k", a.Key), ("@n", a.Count), ("@t1", a.Top1), ("@t5", a.Top5));
        tx.Commit();
        return true;
    }

    /// <summary>The summary of a finished run, or null.</summary>
    public EvaluationSummary? GetSummary(string runId)
    {
        using var c = Open();
        using var cmd = Command(c, null, "SELECT summary FROM runs WHERE run_id = @id AND state = 'done'", ("@id", runId));
        return cmd.ExecuteScalar() is string s ? JsonSerializer.Deserialize<EvaluationSummary>(s) : null;
    }

    /// <summary>Who completed a run (owner id of the finaliser), or null while it is not done.</summary>
    public string? FinalizedBy(string runId)
    {
        using var c = Open();
        using var cmd = Command(c, null, "SELECT finalized_by FROM runs WHERE run_id = @id AND state = 'done'", ("@id", runId));
        return cmd.ExecuteScalar() as string;
    }

    /// <summary>Accuracy rows of a run, optionally of one scope ("overall", "root", "leaf").</summary>
    public IReadOnlyList<AccuracyRow> GetAccuracy(string runId, string? scope = null)
    {
        using var c = Open();
        using var cmd = Command(c, null, "SELECT scope, key, count, top1, top5 FROM accuracy WHERE run_id = @id" + (scope != null ? " AND scope = @sc" : "") + " ORDER BY scope, key",
            [("@id", runId), .. (scope != null ? new[] { ("@sc", (object?)scope) } : [])]);
        using var r = cmd.ExecuteReader();
        var list = new List<AccuracyRow>();
        while (r.Read()) list.Add(new AccuracyRow(r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetDouble(3), r.GetDouble(4)));
        return list;
    }

    // ---------------------------------------------------------------- schedules

    /// <summary>Adds or replaces a recurring schedule (kept here because the default job storage is in memory).</summary>
    public void SaveSchedule(ScheduleInfo s)
    {
        using var c = Open();
        Exec(c, null, """
            INSERT INTO schedules(id, cron, model_id, created, precompute) VALUES (@id, @cron, @m, @now, @p) ON CONFLICT (id) DO UPDATE
              SET cron = excluded.cron, model_id = excluded.model_id, created = excluded.created, precompute = excluded.precompute
            """, ("@id", s.Id), ("@cron", s.Cron), ("@m", s.ModelId), ("@now", s.CreatedUtc.ToString("O", CultureInfo.InvariantCulture)), ("@p", s.Precompute));
    }

    /// <summary>Removes a schedule.</summary>
    public void DeleteSchedule(string id) { using var c = Open(); Exec(c, null, "DELETE FROM schedules WHERE id = @id", ("@id", id)); }

    /// <summary>All schedules.</summary>
    public IReadOnlyList<ScheduleInfo> ListSchedules()
    {
        using var c = Open();
        using var cmd = Command(c, null, "SELECT id, cron, model_id, created, precompute FROM schedules ORDER BY id");
        using var r = cmd.ExecuteReader();
        var list = new List<ScheduleInfo>();
        while (r.Read())
            list.Add(new ScheduleInfo(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), Time(r.GetString(3)), r.IsDBNull(4) ? null : r.GetString(4)));
        return list;
    }
}
