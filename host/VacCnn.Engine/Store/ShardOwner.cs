using System.Diagnostics;
using System.Globalization;

namespace VacCnn.Engine.Store;

/// <summary>
/// Who holds a shard's lease: <c>machine/pid/process-start-ticks/nonce</c>. The nonce makes every claim distinct, so
/// two jobs for the same shard in one process do not both run it. A holder on this machine whose process is gone
/// (killed, crashed) is recognised at once; a holder on another machine only when its lease runs out.
/// </summary>
public static class ShardOwner
{
    private static readonly string ProcessPrefix = string.Create(CultureInfo.InvariantCulture,
        $"{Environment.MachineName}/{Environment.ProcessId}/{Process.GetCurrentProcess().StartTime.ToUniversalTime().Ticks}/");

    /// <summary>This process as people read it (<c>machine · pid 1234</c>): who computed a result.</summary>
    public static string ThisWorker { get; } = WorkerOf(ProcessPrefix + "-");

    /// <summary>A fresh owner id for one claim by this process.</summary>
    public static string NewClaim() => ProcessPrefix + Guid.NewGuid().ToString("N")[..8];

    /// <summary>True when <paramref name="owner"/> belongs to this process.</summary>
    public static bool IsThisProcess(string owner) => owner.StartsWith(ProcessPrefix, StringComparison.Ordinal);

    /// <summary>The process id part of an owner id (for tests and the admin page), or null.</summary>
    public static int? ProcessIdOf(string? owner)
    {
        var parts = owner?.Split('/');
        return parts is { Length: 4 } && int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int pid) ? pid : null;
    }

    /// <summary>The worker behind an owner id, as people read it (<c>machine · pid 1234</c>), or the id itself when not one of ours.</summary>
    public static string WorkerOf(string owner)
    {
        var parts = owner.Split('/');
        return parts.Length == 4 ? $"{parts[0]} · pid {parts[1]}" : owner;
    }

    /// <summary>True while <paramref name="owner"/> holds a live lease: it has not run out at <paramref name="now"/> and
    /// the holder is not known to be dead.</summary>
    public static bool HoldsLease(string? owner, DateTime? leaseUntilUtc, DateTime now) =>
        !string.IsNullOrEmpty(owner) && leaseUntilUtc > now && !IsGone(owner);

    /// <summary>True when the holder is known to be dead: a process of this machine that no longer runs.</summary>
    public static bool IsGone(string owner)
    {
        var parts = owner.Split('/');
        if (parts.Length != 4 || parts[0] != Environment.MachineName) return false; // another machine: trust the lease
        if (!int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int pid)
            || !long.TryParse(parts[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out long started)) return false;
        try
        {
            using var p = Process.GetProcessById(pid);
            // Same pid, different start time: the id was reused by a new process, the holder is gone.
            return p.HasExited || p.StartTime.ToUniversalTime().Ticks != started;
        }
        catch (ArgumentException) { return true; }        // no such process
        catch (InvalidOperationException) { return true; } // exited while we looked
    }
}

/// <summary>Outcome of trying to take a shard.</summary>
public enum ShardClaimResult
{
    /// <summary>The caller holds the lease and must run the shard.</summary>
    Claimed,
    /// <summary>The shard is already committed: nothing to do.</summary>
    Done,
    /// <summary>A live worker holds the lease: try again after it runs out.</summary>
    Busy,
}

/// <summary>A claim attempt: the result and, when busy, until when the other holder's lease runs.</summary>
public sealed record ShardClaim(ShardClaimResult Result, string Owner, DateTime? BusyUntilUtc);

/// <summary>One commit of a shard's results (there must be exactly one per shard).</summary>
public sealed record ShardCommitRecord(string RunId, int Shard, string Owner, DateTime CommittedUtc);
