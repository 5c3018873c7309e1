using System.Globalization;

namespace VacCnn.Bench;

/// <summary>Prints aligned result tables (also valid Markdown, to paste into README).</summary>
internal static class Table
{
    public static void Print(string title, string[] headers, IEnumerable<string[]> rows)
    {
        var all = rows.ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => r[i].Length))).ToArray();
        Console.WriteLine();
        Console.WriteLine($"### {title}");
        Console.WriteLine("| " + string.Join(" | ", headers.Select((h, i) => h.PadRight(widths[i]))) + " |");
        Console.WriteLine("|" + string.Join("|", widths.Select(w => new string('-', w + 2))) + "|");
        foreach (var r in all) Console.WriteLine("| " + string.Join(" | ", r.Select((c, i) => c.PadRight(widths[i]))) + " |");
    }

    public static string F(double v, int digits = 1) => v.ToString("F" + digits, CultureInfo.InvariantCulture);
}
