using System.Diagnostics;
using VacCnn.TestSupport;

namespace VacCnn.Distributed.Tests;

/// <summary>The built web host run as separate processes (web host, workers) on one PostgreSQL, as a cluster runs it.</summary>
internal static class ClusterProcesses
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

    /// <summary>The web host built with the same configuration as this test assembly.</summary>
    public static string WebDll() => TestPaths.BuiltAssembly(Path.Combine("host", "VacCnn.Web"), "VacCnn.Web.dll");

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

    public static async Task WaitUntil(Func<Task<bool>> condition, TimeSpan timeout, string what, string logDir, List<Process> processes)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (await condition()) return;
            if (processes.FirstOrDefault(p => p.HasExited && p.ExitCode != 137 && p.ExitCode != -1) is { } dead)
                Assert.Fail($"a process exited ({dead.ExitCode}) while waiting for {what}:\n" + AllTails(logDir));
            await Task.Delay(100);
        }
        Assert.Fail($"timed out waiting for {what}:\n" + AllTails(logDir));
    }

    public static string AllTails(string logDir) => string.Join("\n", new[] { "host", "worker1", "worker2" }.Select(n => $"--- {n}\n{Tail(logDir, n)}"));

    public static string Tail(string logDir, string name)
    {
        string f = Path.Combine(logDir, name + ".log");
        if (!File.Exists(f)) return "(no log)";
        var lines = File.ReadAllLines(f);
        return string.Join('\n', lines.Skip(Math.Max(0, lines.Length - 30)));
    }
}
