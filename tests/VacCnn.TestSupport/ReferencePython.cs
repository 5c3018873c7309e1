using System.Diagnostics;

namespace VacCnn.TestSupport;

/// <summary>Debian's Python (/usr/bin/python3, not whatever python3 comes first on PATH) for independent checks with NumPy.</summary>
public static class ReferencePython
{
    /// <summary>Whether Debian's NumPy is importable (.ci/run installs it).</summary>
    public static bool Available()
    {
        try { return Run("import numpy; print('ok')").Trim() == "ok"; }
        catch (Exception) { return false; }
    }

    /// <summary>Runs a script (stdin) with /usr/bin/python3 and returns its standard output; throws with stderr on failure.</summary>
    public static string Run(string script)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-");
        using var p = Process.Start(psi)!;
        p.StandardInput.Write(script);
        p.StandardInput.Close();
        string output = p.StandardOutput.ReadToEnd();
        string error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException("python failed: " + error);
        return output;
    }
}
