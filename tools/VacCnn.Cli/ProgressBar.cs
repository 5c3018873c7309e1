namespace VacCnn.Cli;

/// <summary>A one-line progress bar on stderr (redrawn in place on a terminal, plain lines otherwise).</summary>
internal sealed class ProgressBar(string label, bool enabled)
{
    private DateTime _last = DateTime.MinValue;

    public void Report(double fraction, string detail, bool force = false)
    {
        if (!enabled) return;
        if (!force && (DateTime.UtcNow - _last).TotalMilliseconds < 200) return;
        _last = DateTime.UtcNow;
        const int width = 30;
        int filled = (int)Math.Round(Math.Clamp(fraction, 0, 1) * width);
        string line = $"{label} [{new string('#', filled)}{new string('-', width - filled)}] {fraction,6:P1} {detail}";
        if (Console.IsErrorRedirected) Console.Error.WriteLine(line);
        else Console.Error.Write("\r" + line.PadRight(Math.Max(line.Length, Console.WindowWidth > 0 ? Console.WindowWidth - 1 : 0)));
    }

    public void Done()
    {
        if (enabled && !Console.IsErrorRedirected) Console.Error.WriteLine();
    }
}
