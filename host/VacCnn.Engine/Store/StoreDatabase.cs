using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace VacCnn.Engine.Store;

/// <summary>
/// The database behind a <see cref="ResultStore"/>: embedded SQLite (one machine) or PostgreSQL (several workers
/// sharing one store). The store's SQL is written once in the dialect both accept (<c>@name</c> parameters,
/// <c>INSERT … ON CONFLICT</c>, <c>excluded.</c>); only connection set-up, write transactions and the schema lock
/// differ, and they live here.
/// </summary>
public abstract class StoreDatabase
{
    /// <summary>Where the tables are, for logs and error messages (no password).</summary>
    public abstract string Description { get; }

    /// <summary>True when several processes on several machines may share the database.</summary>
    public abstract bool IsShared { get; }

    /// <summary>Opens a connection ready for use.</summary>
    public abstract DbConnection Open();

    /// <summary>Starts a transaction that will write (SQLite takes the write lock up front to avoid upgrade deadlocks).</summary>
    public abstract DbTransaction BeginWrite(DbConnection connection);

    /// <summary>Serialises schema creation between processes starting at once (PostgreSQL races on CREATE … IF NOT EXISTS).</summary>
    public virtual void LockSchema(DbConnection connection, DbTransaction transaction) { }

    /// <summary>The embedded database file <c>vaccnn.db</c> in <paramref name="dataDirectory"/>.</summary>
    public static StoreDatabase Sqlite(string dataDirectory) => new SqliteDatabase(Path.Combine(dataDirectory, "vaccnn.db"));

    /// <summary>A PostgreSQL database (Npgsql connection string).</summary>
    public static StoreDatabase Postgres(string connectionString) => new PostgresDatabase(connectionString);

    private sealed class SqliteDatabase(string file) : StoreDatabase
    {
        private readonly string _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = file,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            DefaultTimeout = 30,
        }.ToString();

        public override string Description => file;
        public override bool IsShared => false;

        public override DbConnection Open()
        {
            var c = new SqliteConnection(_connectionString);
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000; PRAGMA foreign_keys=ON;";
            cmd.ExecuteNonQuery();
            return c;
        }

        public override DbTransaction BeginWrite(DbConnection connection) => ((SqliteConnection)connection).BeginTransaction(deferred: false);
    }

    private sealed class PostgresDatabase(string connectionString) : StoreDatabase
    {
        // Arbitrary constant shared by every VacCnn process: the advisory lock that serialises schema creation.
        private const long SchemaLockKey = 0x5661_4363_6E6E_0001;

        public override string Description
        {
            get
            {
                var b = new NpgsqlConnectionStringBuilder(connectionString);
                return $"postgresql://{b.Host}:{b.Port}/{b.Database}";
            }
        }

        public override bool IsShared => true;

        public override DbConnection Open()
        {
            var c = new NpgsqlConnection(connectionString);
            c.Open();
            return c;
        }

        public override DbTransaction BeginWrite(DbConnection connection) => connection.BeginTransaction();

        // How long a starting process waits for another one to finish creating or upgrading the schema.
        private static readonly TimeSpan SchemaLockWait = TimeSpan.FromMinutes(3);

        // Polls pg_try_advisory_xact_lock instead of blocking in pg_advisory_xact_lock: a blocking wait is one
        // command and dies at the 30 s command timeout when the holder is slow (a loaded machine, a slow disk),
        // failing the start for nothing; short polls wait as long as SchemaLockWait and then say why.
        public override void LockSchema(DbConnection connection, DbTransaction transaction)
        {
            using var cmd = connection.CreateCommand();
            cmd.Transaction = transaction;
            cmd.CommandText = $"SELECT pg_try_advisory_xact_lock({SchemaLockKey})";
            var waited = System.Diagnostics.Stopwatch.StartNew();
            int pause = 10;
            while (!(bool)cmd.ExecuteScalar()!)
            {
                if (waited.Elapsed > SchemaLockWait)
                    throw new TimeoutException($"another VacCnn process has held the schema lock of {Description} for over {SchemaLockWait.TotalMinutes:0} minutes; is one stuck in a migration?");
                Thread.Sleep(pause);
                pause = Math.Min(pause * 2, 250);
            }
        }
    }
}
