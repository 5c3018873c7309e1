using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace VacCnn.Engine.Store;

/// <summary>
/// Durable results under the data directory: an SQLite database (<c>vaccnn.db</c>) for run records, shards,
/// predictions and accuracy tables, and NumPy <c>.npy</c> matrices under <c>runs/&lt;runId&gt;/</c>:
/// <c>confidence.npy</c> (float32 [images, classes] softmax probabilities), <c>labels.npy</c> (int32 ground truth per
/// row) and <c>image_index.npy</c> (int32 position of each row's image in the image set; skipped images have no row).
/// Every write is atomic (temp file + rename, SQLite transactions), so a crash never leaves a half-written result.
/// </summary>
public sealed class ResultStore
{
    private readonly string _connectionString;

    /// <summary>Opens (creating if needed) the store in <paramref name="dataDirectory"/>.</summary>
    public ResultStore(string dataDirectory)
    {
        DataDirectory = Path.GetFullPath(dataDirectory);
        Directory.CreateDirectory(DataDirectory);
        Directory.CreateDirectory(RunsDirectory);
        AtomicFile.CleanupStale(RunsDirectory);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(DataDirectory, "vaccnn.db"),
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            DefaultTimeout = 30,
        }.ToString();
        CreateSchema();
    }

    /// <summary>The data directory.</summary>
    public string DataDirectory { get; }

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
        Fingerprint.OfText(modelFingerprint + "|" + imageSetFingerprint)[..24];

    private SqliteConnection Open()
    {
        var c = new SqliteConnection(_connectionString);
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000; PRAGMA foreign_keys=ON;";
        cmd.ExecuteNonQuery();
        return c;
    }

    private void CreateSchema()
    {
        using var c = Open();
        Exec(c, null, """
            CREATE TABLE IF NOT EXISTS runs (
              run_id TEXT PRIMARY KEY, model_id TEXT NOT NULL, model_fp TEXT NOT NULL, imageset_fp TEXT NOT NULL,
              images_root TEXT NOT NULL, total_images INTEGER NOT NULL, shard_size INTEGER NOT NULL,
              shard_count INTEGER NOT NULL, state TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL,
              error TEXT, summary TEXT);
            CREATE TABLE IF NOT EXISTS shards (
              run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE, shard_index INTEGER NOT NULL,
              start INTEGER NOT NULL, count INTEGER NOT NULL, state TEXT NOT NULL, images_done INTEGER NOT NULL DEFAULT 0,
              skipped INTEGER NOT NULL DEFAULT 0, seconds REAL NOT NULL DEFAULT 0, finished TEXT, attempts INTEGER NOT NULL DEFAULT 0,
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
              count INTEGER NOT NULL, top1 REAL NOT NULL, top5 REAL NOT NULL, PRIMARY KEY (run_id, scope, key));
            CREATE TABLE IF NOT EXISTS schedules (
              id TEXT PRIMARY KEY, cron TEXT NOT NULL, model_id TEXT, created TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS runs_by_model ON runs(model_id, updated);
            """);
    }

    private static int Exec(SqliteConnection c, SqliteTransaction? tx, string sql, params (string, object?)[] args)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v ?? DBNull.Value);
        return cmd.ExecuteNonQuery();
    }

    private static string Now() => DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture);
    private static DateTime Time(string s) => DateTime.Parse(s, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);

    // ---------------------------------------------------------------- runs

    /// <summary>
    /// Returns the run for (model, image set), creating it with its shards when new. Idempotent: calling it again
    /// (from a retried job, or another process) returns the existing run unchanged.
    /// </summary>
    public RunInfo GetOrCreateRun(string modelId, string modelFp, string imageSetFp, string imagesRoot, int totalImages, int shardSize)
    {
        string runId = RunIdFor(modelFp, imageSetFp);
        using var c = Open();
        using var tx = c.BeginTransaction(deferred: false);
        int shardCount = totalImages == 0 ? 0 : (totalImages + shardSize - 1) / shardSize;
        int inserted = Exec(c, tx, """
            INSERT OR IGNORE INTO runs(run_id, model_id, model_fp, imageset_fp, images_root, total_images, shard_size, shard_count, state, created, updated)
            VALUES ($id, $m, $mfp, $ifp, $root, $total, $ss, $sc, $state, $now, $now)
            """, ("$id", runId), ("$m", modelId), ("$mfp", modelFp), ("$ifp", imageSetFp), ("$root", imagesRoot),
            ("$total", totalImages), ("$ss", shardSize), ("$sc", shardCount), ("$state", RunStates.Pending), ("$now", Now()));
        if (inserted == 1)
            for (int s = 0; s < shardCount; s++)
            {
                int start = s * shardSize;
                Exec(c, tx, "INSERT INTO shards(run_id, shard_index, start, count, state) VALUES ($id, $s, $start, $n, $st)",
                    ("$id", runId), ("$s", s), ("$start", start), ("$n", Math.Min(shardSize, totalImages - start)), ("$st", RunStates.Pending));
            }
        tx.Commit();
        return GetRun(runId)!;
    }

    /// <summary>The run with this id, or null.</summary>
    public RunInfo? GetRun(string runId)
    {
        using var c = Open();
        return QueryRuns(c, "WHERE run_id = $id", ("$id", runId)).FirstOrDefault();
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
            : QueryRuns(c, "WHERE state = 'done' AND imageset_fp = $ifp ORDER BY updated DESC", ("$ifp", imageSetFp));
        return runs.GroupBy(r => r.ModelId).Select(g => g.First()).OrderBy(r => r.ModelId, StringComparer.Ordinal).ToList();
    }

    private static List<RunInfo> QueryRuns(SqliteConnection c, string where, params (string, object?)[] args)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT run_id, model_id, model_fp, imageset_fp, images_root, total_images, shard_size, shard_count, state, created, updated, error FROM runs " + where;
        foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v ?? DBNull.Value);
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
        Exec(c, null, "UPDATE runs SET state = $s, error = $e, updated = $now WHERE run_id = $id",
            ("$s", state), ("$e", error), ("$now", Now()), ("$id", runId));
    }

    /// <summary>Deletes a run and its matrices (so it is computed again).</summary>
    public void DeleteRun(string runId)
    {
        using (var c = Open()) Exec(c, null, "DELETE FROM runs WHERE run_id = $id", ("$id", runId));
        if (Directory.Exists(RunDirectory(runId))) Directory.Delete(RunDirectory(runId), recursive: true);
    }

    // ---------------------------------------------------------------- shards

    /// <summary>All shards of a run, in order.</summary>
    public IReadOnlyList<ShardInfo> GetShards(string runId)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT shard_index, start, count, state, images_done, skipped, seconds, finished FROM shards WHERE run_id = $id ORDER BY shard_index";
        cmd.Parameters.AddWithValue("$id", runId);
        using var r = cmd.ExecuteReader();
        var list = new List<ShardInfo>();
        while (r.Read())
            list.Add(new ShardInfo(runId, r.GetInt32(0), r.GetInt32(1), r.GetInt32(2), r.GetString(3), r.GetInt32(4), r.GetInt32(5),
                r.GetDouble(6), r.IsDBNull(7) ? null : Time(r.GetString(7))));
        return list;
    }

    /// <summary>Marks a shard as started (counts attempts, for the admin page) and the run as running.</summary>
    public void MarkShardStarted(string runId, int shard)
    {
        using var c = Open();
        using var tx = c.BeginTransaction(deferred: false);
        Exec(c, tx, "UPDATE shards SET attempts = attempts + 1, state = CASE WHEN state = 'done' THEN 'done' ELSE 'running' END, images_done = CASE WHEN state = 'done' THEN images_done ELSE 0 END WHERE run_id = $id AND shard_index = $s",
            ("$id", runId), ("$s", shard));
        Exec(c, tx, "UPDATE runs SET state = 'running', updated = $now WHERE run_id = $id AND state = 'pending'", ("$id", runId), ("$now", Now()));
        tx.Commit();
    }

    /// <summary>Live progress inside a running shard (images processed so far).</summary>
    public void ReportShardProgress(string runId, int shard, int imagesDone)
    {
        using var c = Open();
        Exec(c, null, "UPDATE shards SET images_done = $n WHERE run_id = $id AND shard_index = $s AND state <> 'done'",
            ("$n", imagesDone), ("$id", runId), ("$s", shard));
    }

    /// <summary>
    /// Commits a finished shard: its matrix is written atomically first, then predictions, skips and the done flag in
    /// one transaction. Re-committing a shard (a retried job) replaces, never duplicates, its rows.
    /// </summary>
    public void CommitShard(string runId, int shard, float[] probabilities, int classCount,
        IReadOnlyList<PredictionRow> predictions, IReadOnlyList<SkipRow> skips, double seconds)
    {
        if (probabilities.Length != predictions.Count * classCount)
            throw new ArgumentException("probability rows and predictions disagree");
        Npy.WriteFile(ShardMatrixPath(runId, shard), probabilities, predictions.Count, classCount);
        using var c = Open();
        using var tx = c.BeginTransaction(deferred: false);
        Exec(c, tx, "DELETE FROM predictions WHERE run_id = $id AND shard_index = $s", ("$id", runId), ("$s", shard));
        using (var cmd = c.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT OR REPLACE INTO predictions(run_id, image_index, shard_index, shard_row, rel_path, label, top5, top5_prob) VALUES ($id, $i, $s, $row, $p, $l, $t, $tp)";
            var pi = cmd.Parameters.Add("$i", SqliteType.Integer);
            var prow = cmd.Parameters.Add("$row", SqliteType.Integer);
            var pp = cmd.Parameters.Add("$p", SqliteType.Text);
            var pl = cmd.Parameters.Add("$l", SqliteType.Integer);
            var pt = cmd.Parameters.Add("$t", SqliteType.Text);
            var ptp = cmd.Parameters.Add("$tp", SqliteType.Text);
            cmd.Parameters.AddWithValue("$id", runId);
            cmd.Parameters.AddWithValue("$s", shard);
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
            Exec(c, tx, "INSERT OR REPLACE INTO skips(run_id, image_index, rel_path, reason) VALUES ($id, $i, $p, $r)",
                ("$id", runId), ("$i", s.ImageIndex), ("$p", s.RelativePath), ("$r", s.Reason));
        Exec(c, tx, "UPDATE shards SET state = 'done', images_done = $n, skipped = $k, seconds = $sec, finished = $now WHERE run_id = $id AND shard_index = $s",
            ("$n", predictions.Count), ("$k", skips.Count), ("$sec", seconds), ("$now", Now()), ("$id", runId), ("$s", shard));
        Exec(c, tx, "UPDATE runs SET updated = $now WHERE run_id = $id", ("$now", Now()), ("$id", runId));
        tx.Commit();
    }

    /// <summary>Predictions of a run ordered by image index (optionally one shard only).</summary>
    public IReadOnlyList<PredictionRow> GetPredictions(string runId, int? shard = null)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT image_index, rel_path, label, top5, top5_prob FROM predictions WHERE run_id = $id"
                          + (shard.HasValue ? " AND shard_index = $s ORDER BY shard_row" : " ORDER BY image_index");
        cmd.Parameters.AddWithValue("$id", runId);
        if (shard.HasValue) cmd.Parameters.AddWithValue("$s", shard.Value);
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
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT image_index, rel_path, reason FROM skips WHERE run_id = $id ORDER BY image_index";
        cmd.Parameters.AddWithValue("$id", runId);
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

    /// <summary>Stores the accuracy tables and summary of a run and marks it done, in one transaction.</summary>
    public void CompleteRun(string runId, IReadOnlyList<AccuracyRow> accuracy, EvaluationSummary summary)
    {
        using var c = Open();
        using var tx = c.BeginTransaction(deferred: false);
        Exec(c, tx, "DELETE FROM accuracy WHERE run_id = $id", ("$id", runId));
        foreach (var a in accuracy)
            Exec(c, tx, "INSERT INTO accuracy(run_id, scope, key, count, top1, top5) VALUES ($id, $sc, $k, $n, $t1, $t5)",
                ("$id", runId), ("$sc", a.Scope), ("$k", a.Key), ("$n", a.Count), ("$t1", a.Top1), ("$t5", a.Top5));
        Exec(c, tx, "UPDATE runs SET state = 'done', error = NULL, summary = $sum, updated = $now WHERE run_id = $id",
            ("$sum", JsonSerializer.Serialize(summary)), ("$now", Now()), ("$id", runId));
        tx.Commit();
    }

    /// <summary>The summary of a finished run, or null.</summary>
    public EvaluationSummary? GetSummary(string runId)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT summary FROM runs WHERE run_id = $id AND state = 'done'";
        cmd.Parameters.AddWithValue("$id", runId);
        return cmd.ExecuteScalar() is string s ? JsonSerializer.Deserialize<EvaluationSummary>(s) : null;
    }

    /// <summary>Accuracy rows of a run, optionally of one scope ("overall", "root", "leaf").</summary>
    public IReadOnlyList<AccuracyRow> GetAccuracy(string runId, string? scope = null)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT scope, key, count, top1, top5 FROM accuracy WHERE run_id = $id" + (scope != null ? " AND scope = $sc" : "") + " ORDER BY scope, key";
        cmd.Parameters.AddWithValue("$id", runId);
        if (scope != null) cmd.Parameters.AddWithValue("$sc", scope);
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
        Exec(c, null, "INSERT OR REPLACE INTO schedules(id, cron, model_id, created) VALUES ($id, $cron, $m, $now)",
            ("$id", s.Id), ("$cron", s.Cron), ("$m", s.ModelId), ("$now", s.CreatedUtc.ToString("O", CultureInfo.InvariantCulture)));
    }

    /// <summary>Removes a schedule.</summary>
    public void DeleteSchedule(string id) { using var c = Open(); Exec(c, null, "DELETE FROM schedules WHERE id = $id", ("$id", id)); }

    /// <summary>All schedules.</summary>
    public IReadOnlyList<ScheduleInfo> ListSchedules()
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id, cron, model_id, created FROM schedules ORDER BY id";
        using var r = cmd.ExecuteReader();
        var list = new List<ScheduleInfo>();
        while (r.Read()) list.Add(new ScheduleInfo(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), Time(r.GetString(3))));
        return list;
    }
}
