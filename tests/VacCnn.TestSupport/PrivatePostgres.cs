using System.Diagnostics;
using Npgsql;
namespace VacCnn.TestSupport;

/// <summary>
/// A PostgreSQL server for one test: a fresh database on the server named by <c>VACCNN_TEST_POSTGRES</c> (a
/// connection string), else a private throw-away cluster started from Debian's binaries
/// (<c>/usr/lib/postgresql/&lt;v&gt;/bin</c>) on 127.0.0.1 and a free port, in a temp folder, removed on dispose.
/// initdb refuses to run as root, so as root the cluster runs as the <c>postgres</c> user.
/// </summary>
public sealed class PrivatePostgres : IDisposable
{
    /// <summary>Environment variable with the connection string of an existing server.</summary>
    public const string ServerVariable = "VACCNN_TEST_POSTGRES";

    private readonly string? _clusterDir;
    private readonly string? _binDir;
    private readonly string? _adminConnectionString;
    private readonly string? _database;

    private PrivatePostgres(string connectionString, string? clusterDir, string? binDir, string? adminConnectionString, string? database)
    {
        ConnectionString = connectionString;
        _clusterDir = clusterDir;
        _binDir = binDir;
        _adminConnectionString = adminConnectionString;
        _database = database;
    }

    /// <summary>Connection string of the database to use.</summary>
    public string ConnectionString { get; }

    /// <summary>Why no server can be had here, or null when one can.</summary>
    public static string? Unavailable() =>
        Environment.GetEnvironmentVariable(ServerVariable) is { Length: > 0 } || FindBinDir() != null
            ? null
            : $"PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb) and {ServerVariable} is not set; .ci/run installs it";

    /// <summary>Starts (or connects to) the server and creates an empty database.</summary>
    public static PrivatePostgres Start()
    {
        if (Environment.GetEnvironmentVariable(ServerVariable) is { Length: > 0 } server)
        {
            string db = "vaccnn_test_" + Guid.NewGuid().ToString("N")[..12];
            using (var c = new NpgsqlConnection(server))
            {
                c.Open();
                using var cmd = new NpgsqlCommand($"CREATE DATABASE {db}", c);
                cmd.ExecuteNonQuery();
            }
            return new PrivatePostgres(new NpgsqlConnectionStringBuilder(server) { Database = db }.ToString(), null, null, server, db);
        }

        string bin = FindBinDir() ?? throw new InvalidOperationException(Unavailable());
        string dir = Path.Combine(Path.GetTempPath(), "vaccnn-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        int port = TestPaths.FreeLoopbackPort();
        bool root = Environment.UserName == "root";
        if (root) Run("chown", "postgres:postgres", dir);
        string data = Path.Combine(dir, "data");
        RunAs(root, $"{bin}/initdb -D {data} -U postgres --auth=trust -E UTF8 --no-sync >{dir}/initdb.log 2>&1");
        RunAs(root, $"{bin}/pg_ctl -D {data} -o \"-p {port} -k {dir} -c listen_addresses=127.0.0.1 -c fsync=off\" -l {dir}/server.log -w -t 60 start >/dev/null");
        string cs = $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=true;Timeout=30";
        return new PrivatePostgres(cs, dir, bin, null, null);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        NpgsqlConnection.ClearAllPools();
        if (_clusterDir != null && _binDir != null)
        {
            try { RunAs(Environment.UserName == "root", $"{_binDir}/pg_ctl -D {_clusterDir}/data -m immediate -w stop >/dev/null 2>&1"); }
            catch (InvalidOperationException) { }
            try { Directory.Delete(_clusterDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        if (_adminConnectionString != null && _database != null)
        {
            using var c = new NpgsqlConnection(_adminConnectionString);
            c.Open();
            using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_database} WITH (FORCE)", c);
            cmd.ExecuteNonQuery();
        }
    }

    private static string? FindBinDir() =>
        Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin"))
                .Where(b => File.Exists(Path.Combine(b, "initdb"))).OrderDescending(StringComparer.Ordinal).FirstOrDefault()
            : null;

    private static void RunAs(bool asPostgresUser, string shellCommand)
    {
        if (asPostgresUser) Run("su", "postgres", "-s", "/bin/sh", "-c", shellCommand);
        else Run("/bin/sh", "-c", shellCommand);
    }

    private static void Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd() + p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {err}");
    }
}
