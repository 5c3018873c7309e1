using System.Diagnostics;

namespace VacCnn.TestSupport;

/// <summary>The built web host run as separate processes (web host, workers) on one PostgreSQL, as a cluster runs it:
/// used by the scale-out tests and the benchmark.</summary>
public static class HostProcess
{
    /// <summary>Starts the built web host as a process with the given role on PostgreSQL; output goes to NAME.log.</summary>
    public static Process Start(string name, string models, string images, string data, string pg, string logDir, string role, string? url,
        params string[] extra)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = false, RedirectStandardError = false, UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(WebDll())!,
        };
        psi.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        psi.Environment["Logging__LogLevel__Default"] = "Information";
        // Output to a file (a full pipe would block the process); read on failure.
        string args = string.Join(' ', new[]
        {
            WebDll(), $"--VacCnn:Role={role}", "--VacCnn:Storage=postgres", $"--VacCnn:PostgreSql={pg}",
            $"--VacCnn:Models={models}", $"--VacCnn:Images={images}", $"--VacCnn:ImageNet={TestPaths.ImageNet}",
            $"--VacCnn:Data={data}", $"--VacCnn:Plugins={TestPaths.Plugins}", "--VacCnn:Device=Cpu", "--VacCnn:Workers=1",
            url != null ? $"--urls={url}" : "",
        }.Concat(extra).Select(a => a.Length == 0 ? a : $"'{a.Replace("'", "'\\''")}'"));
        psi.FileName = "/bin/sh";
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add($"exec dotnet {args} >'{Path.Combine(logDir, name + ".log")}' 2>&1");
        return Process.Start(psi)!;
    }

    /// <summary>The web host built with the same configuration as the calling assembly.</summary>
    public static string WebDll() => TestPaths.BuiltAssembly(Path.Combine("host", "VacCnn.Web"), "VacCnn.Web.dll");

    /// <summary>Kills (SIGKILL, with children) the processes still running, waits for them and disposes them all.</summary>
    public static void StopAll(IEnumerable<Process> processes)
    {
        foreach (var p in processes)
        {
            try { if (!p.HasExited) p.Kill(entireProcessTree: true); p.WaitForExit(10_000); } catch (InvalidOperationException) { }
            p.Dispose();
        }
    }

    /// <summary>The body of a successful GET, or null (not up yet, an error status).</summary>
    public static async Task<string?> TryGet(HttpClient http, string path)
    {
        try
        {
            using var r = await http.GetAsync(path);
            return r.IsSuccessStatusCode ? await r.Content.ReadAsStringAsync() : null;
        }
        catch (HttpRequestException) { return null; }
        catch (TaskCanceledException) { return null; }
    }

    /// <summary>The last lines of the logs of the host and the two workers, for a failure message.</summary>
    public static string AllTails(string logDir) => string.Join("\n", new[] { "host", "worker1", "worker2" }.Select(n => $"--- {n}\n{Tail(logDir, n)}"));

    /// <summary>The last 30 lines of NAME.log.</summary>
    public static string Tail(string logDir, string name)
    {
        string f = Path.Combine(logDir, name + ".log");
        if (!File.Exists(f)) return "(no log)";
        var lines = File.ReadAllLines(f);
        return string.Join('\n', lines.Skip(Math.Max(0, lines.Length - 30)));
    }
}
