using System.Diagnostics;
using VacCnn.TestSupport;

namespace VacCnn.Distributed.Tests;

/// <summary>Waiting on a cluster of host processes (<see cref="HostProcess"/>), failing with their logs.</summary>
internal static class ClusterProcesses
{
    public static async Task WaitUntil(Func<Task<bool>> condition, TimeSpan timeout, string what, string logDir, List<Process> processes)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (await condition()) return;
            if (processes.FirstOrDefault(p => p.HasExited && p.ExitCode != 137 && p.ExitCode != -1) is { } dead)
                Assert.Fail($"a process exited ({dead.ExitCode}) while waiting for {what}:\n" + HostProcess.AllTails(logDir));
            await Task.Delay(100);
        }
        Assert.Fail($"timed out waiting for {what}:\n" + HostProcess.AllTails(logDir));
    }

}
