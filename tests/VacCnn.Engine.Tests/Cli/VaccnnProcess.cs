using System.Diagnostics;
using VacCnn.Engine.Tests.Jobs;

namespace VacCnn.Engine.Tests.Cli;

/// <summary>Runs the built <c>vaccnn</c> CLI as a real process; shared by the CLI test classes.</summary>
internal static class VaccnnProcess
{
    /// <summary>Runs <c>vaccnn ARGS</c> to completion; stderr is drained concurrently so a full pipe never stalls it.</summary>
    public static (int Code, string Out, string Err) Run(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(ResumeTests.CliDll());
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output, err.GetAwaiter().GetResult());
    }

    /// <summary>The CLI's contract for bad input: a non-zero exit and exactly one "vaccnn: …" line naming the problem.</summary>
    public static void AssertOneLineError((int Code, string Out, string Err) result, string mentioned)
    {
        Assert.NotEqual(0, result.Code);
        var lines = result.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("vaccnn:")).ToList();
        Assert.Single(lines);
        Assert.Contains(mentioned, lines[0]);
        Assert.DoesNotContain("   at ", result.Err); // no stack trace
    }
}
