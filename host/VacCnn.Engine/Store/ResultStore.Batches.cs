using System.Data.Common;

namespace VacCnn.Engine.Store;

/// <summary>Where a precompute batch of explanations stands.</summary>
/// <param name="Id">Batch id (a fingerprint of its selection: the same selection is the same batch).</param>
/// <param name="Spec">The selection, as JSON.</param>
/// <param name="Total">Explanations in the batch (0 until planned).</param>
/// <param name="Done">Explanations finished (stored).</param>
/// <param name="Failed">Explanations that failed.</param>
/// <param name="State">running, done or failed.</param>
/// <param name="StartedUtc">When the batch was last (re)started.</param>
/// <param name="DoneAtStart">Explanations already finished then (so the rate counts this start's work only).</param>
/// <param name="UpdatedUtc">Last change.</param>
public sealed record BatchInfo(string Id, string Spec, int Total, int Done, int Failed, string State, DateTime StartedUtc, int DoneAtStart,
    DateTime UpdatedUtc)
{
    /// <summary>Explanations per second since the last start (null before the first is finished).</summary>
    public double? Rate
    {
        get
        {
            double seconds = (UpdatedUtc - StartedUtc).TotalSeconds;
            return Done > DoneAtStart && seconds > 0 ? (Done - DoneAtStart) / seconds : null;
        }
    }

    /// <summary>Estimated time left at the current rate (null when unknown).</summary>
    public TimeSpan? Eta => State == RunStates.Running && Rate is > 0 and var r ? TimeSpan.FromSeconds((Total - Done - Failed) / r) : null;
}

// Precompute batches of explanations: the selection, and one row per finished item. The rows are the source of truth
// for progress and for resuming (a re-planned batch skips finished items); the maps themselves are in the explanation
// store.
public sealed partial class ResultStore
{
    private static void CreateBatchTables(DbConnection c, DbTransaction tx) => Exec(c, tx, """
        CREATE TABLE IF NOT EXISTS explanation_batches (
          id TEXT PRIMARY KEY, spec TEXT NOT NULL, total INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL,
          started TEXT NOT NULL, done_at_start INTEGER NOT NULL DEFAULT 0, updated TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS explanation_batch_items (
          batch_id TEXT NOT NULL REFERENCES explanation_batches(id) ON DELETE CASCADE, item TEXT NOT NULL,
          state TEXT NOT NULL, error TEXT, worker TEXT, finished TEXT NOT NULL, PRIMARY KEY (batch_id, item));
        """);

    /// <summary>Creates the batch, or restarts it (state running, rate counted from now) when it exists.</summary>
    public void StartBatch(string id, string spec)
    {
        using var c = Open();
        string now = Now();
        Exec(c, null, """
            INSERT INTO explanation_batches(id, spec, state, started, updated) VALUES (@id, @spec, 'running', @now, @now)
            ON CONFLICT (id) DO UPDATE SET state = 'running', started = excluded.started, updated = excluded.updated,
              done_at_start = (SELECT COUNT(*) FROM explanation_batch_items i WHERE i.batch_id = excluded.id AND i.state = 'done')
            """, ("@id", id), ("@spec", spec), ("@now", now));
        // A restart tries failed items again.
        Exec(c, null, "DELETE FROM explanation_batch_items WHERE batch_id = @id AND state = 'failed'", ("@id", id));
    }

    /// <summary>Sets the number of explanations of a planned batch.</summary>
    public void SetBatchTotal(string id, int total)
    {
        using var c = Open();
        Exec(c, null, "UPDATE explanation_batches SET total = @t, updated = @now WHERE id = @id", ("@id", id), ("@t", total), ("@now", Now()));
    }

    /// <summary>Records a finished (or failed) item, once; completes the batch when it was the last. Returns true
    /// when this call completed the batch.</summary>
    public bool FinishBatchItem(string id, string item, string? error, string worker)
    {
        using var c = Open();
        using var tx = _db.BeginWrite(c);
        Exec(c, tx, """
            INSERT INTO explanation_batch_items(batch_id, item, state, error, worker, finished) VALUES (@id, @item, @state, @error, @w, @now)
            ON CONFLICT (batch_id, item) DO NOTHING
            """, ("@id", id), ("@item", item), ("@state", error == null ? "done" : "failed"), ("@error", error), ("@w", worker), ("@now", Now()));
        int completed = Exec(c, tx, CompleteWhenFinished + " AND total > 0", ("@id", id), ("@now", Now()));
        if (completed == 0)
            Exec(c, tx, "UPDATE explanation_batches SET updated = @now WHERE id = @id", ("@id", id), ("@now", Now()));
        tx.Commit();
        return completed > 0;
    }

    // Completes a running batch whose items are all recorded: failed when any failed.
    private const string CompleteWhenFinished = """
        UPDATE explanation_batches SET updated = @now,
          state = CASE WHEN EXISTS (SELECT 1 FROM explanation_batch_items i WHERE i.batch_id = @id AND i.state = 'failed') THEN 'failed' ELSE 'done' END
        WHERE id = @id AND state = 'running' AND total <= (SELECT COUNT(*) FROM explanation_batch_items i WHERE i.batch_id = @id)
        """;

    /// <summary>Marks a batch done (or failed) when every item is recorded (a batch planned with nothing left to do).</summary>
    public void CompleteBatchIfFinished(string id)
    {
        using var c = Open();
        Exec(c, null, CompleteWhenFinished, ("@id", id), ("@now", Now()));
    }

    /// <summary>The items of a batch already recorded as finished (done or failed).</summary>
    public IReadOnlySet<string> FinishedBatchItems(string id)
    {
        using var c = Open();
        using var cmd = Command(c, null, "SELECT item FROM explanation_batch_items WHERE batch_id = @id", ("@id", id));
        using var r = cmd.ExecuteReader();
        var set = new HashSet<string>(StringComparer.Ordinal);
        while (r.Read()) set.Add(r.GetString(0));
        return set;
    }

    /// <summary>The errors of a batch's failed items (item, error), at most <paramref name="limit"/>.</summary>
    public IReadOnlyList<(string Item, string Error)> BatchFailures(string id, int limit = 20)
    {
        using var c = Open();
        using var cmd = Command(c, null, "SELECT item, error FROM explanation_batch_items WHERE batch_id = @id AND state = 'failed' ORDER BY item LIMIT @n",
            ("@id", id), ("@n", limit));
        using var r = cmd.ExecuteReader();
        var list = new List<(string, string)>();
        while (r.Read()) list.Add((r.GetString(0), r.IsDBNull(1) ? "" : r.GetString(1)));
        return list;
    }

    /// <summary>One batch, or null.</summary>
    public BatchInfo? GetBatch(string id) => QueryBatches("WHERE b.id = @id", ("@id", id)).FirstOrDefault();

    /// <summary>All batches, newest first.</summary>
    public IReadOnlyList<BatchInfo> ListBatches() => QueryBatches("ORDER BY b.started DESC");

    /// <summary>Batches left running (by a crash or a kill): to be planned again at start-up.</summary>
    public IReadOnlyList<BatchInfo> UnfinishedBatches() => QueryBatches("WHERE b.state = 'running' ORDER BY b.started");

    private List<BatchInfo> QueryBatches(string where, params (string, object?)[] args)
    {
        using var c = Open();
        using var cmd = Command(c, null, $"""
            SELECT b.id, b.spec, b.total, b.state, b.started, b.done_at_start, b.updated,
              (SELECT COUNT(*) FROM explanation_batch_items i WHERE i.batch_id = b.id AND i.state = 'done'),
              (SELECT COUNT(*) FROM explanation_batch_items i WHERE i.batch_id = b.id AND i.state = 'failed')
            FROM explanation_batches b {where}
            """, args);
        using var r = cmd.ExecuteReader();
        var list = new List<BatchInfo>();
        while (r.Read())
            list.Add(new BatchInfo(r.GetString(0), r.GetString(1), Convert.ToInt32(r.GetValue(2), System.Globalization.CultureInfo.InvariantCulture),
                Convert.ToInt32(r.GetValue(7), System.Globalization.CultureInfo.InvariantCulture),
                Convert.ToInt32(r.GetValue(8), System.Globalization.CultureInfo.InvariantCulture), r.GetString(3), Time(r.GetString(4)),
                Convert.ToInt32(r.GetValue(5), System.Globalization.CultureInfo.InvariantCulture), Time(r.GetString(6))));
        return list;
    }
}
