using Hangfire;
using Hangfire.InMemory;
using Hangfire.PostgreSql;
using Npgsql;
using VacCnn.Engine.Configuration;

namespace VacCnn.Web.Hosting;

/// <summary>What one process of the host does (<c>VacCnn:Role</c>).</summary>
public enum VacCnnRole
{
    /// <summary>Pages, API and background jobs (the default; one machine).</summary>
    All,
    /// <summary>Pages and API only; the jobs run in worker processes (needs <c>VacCnn:Storage=postgres</c>).</summary>
    Web,
    /// <summary>Background jobs only: a Hangfire server, no pages (start several, on one or more machines).</summary>
    Worker,
}

/// <summary>Process role and the Hangfire job storage that <see cref="VacCnnOptions.Storage"/> selects.</summary>
public static class VacCnnRoles
{
    /// <summary>Configuration key of the role.</summary>
    public const string RoleKey = VacCnnOptions.Section + ":Role";

    /// <summary>Hangfire's schema in the PostgreSQL database.</summary>
    public const string HangfireSchema = "hangfire";

    // Shared by every VacCnn process: serialises Hangfire's schema installation (two at once fail).
    private const long HangfireSchemaLockKey = 0x5661_4363_6E6E_0002;

    /// <summary>Reads <see cref="RoleKey"/> (default <see cref="VacCnnRole.All"/>); throws with a clear message on a bad value.</summary>
    public static VacCnnRole Read(IConfiguration configuration)
    {
        string? text = configuration[RoleKey];
        if (string.IsNullOrWhiteSpace(text)) return VacCnnRole.All;
        return Enum.TryParse<VacCnnRole>(text.Trim(), ignoreCase: true, out var role) && Enum.IsDefined(role)
            ? role
            : throw new InvalidOperationException($"{RoleKey} = '{text}' must be one of: all, web, worker.");
    }

    /// <summary>
    /// The job storage: in memory for <c>embedded</c> (the store's run records re-queue work at start), PostgreSQL for
    /// <c>postgres</c> (one queue shared by every worker). With PostgreSQL a job whose worker stops sending heartbeats
    /// goes back to the queue after <see cref="VacCnnOptions.ShardLeaseSeconds"/> — the same time after which the
    /// store lets another worker take the shard over.
    /// </summary>
    public static IGlobalConfiguration UseVacCnnStorage(this IGlobalConfiguration configuration, VacCnnOptions options)
    {
        if (!options.UsesPostgres) return configuration.UseInMemoryStorage(new InMemoryStorageOptions());
        InstallHangfireSchema(options.PostgreSql);
        return configuration.UsePostgreSqlStorage(o => o.UseNpgsqlConnection(options.PostgreSql), new PostgreSqlStorageOptions
        {
            SchemaName = HangfireSchema,
            PrepareSchemaIfNecessary = false, // done above, under a lock
            QueuePollInterval = TimeSpan.FromSeconds(1),
            UseSlidingInvisibilityTimeout = true,
            InvisibilityTimeout = TimeSpan.FromSeconds(Math.Max(options.ShardLeaseSeconds, 5)),
        });
    }

    /// <summary>
    /// Creates or upgrades Hangfire's tables, holding a PostgreSQL advisory lock so that processes starting together
    /// do not install at once (which fails with "could not find tuple for constraint").
    /// </summary>
    public static void InstallHangfireSchema(string connectionString)
    {
        using var c = new NpgsqlConnection(connectionString);
        c.Open();
        using (var lockCmd = new NpgsqlCommand($"SELECT pg_advisory_lock({HangfireSchemaLockKey})", c)) lockCmd.ExecuteNonQuery();
        try { PostgreSqlObjectsInstaller.Install(c, HangfireSchema); }
        finally
        {
            using var unlock = new NpgsqlCommand($"SELECT pg_advisory_unlock({HangfireSchemaLockKey})", c);
            unlock.ExecuteNonQuery();
        }
    }
}
