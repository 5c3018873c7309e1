using System.Globalization;
using System.Text;

namespace VacCnn.Engine.Store;

/// <summary>RFC 4180 CSV: comma-separated, CRLF rows, fields with a comma, quote or line break quoted (quotes doubled);
/// numbers in invariant culture, round-trip; null as an empty field (NaN for pandas and NumPy).</summary>
public static class CsvText
{
    /// <summary>The rows as CSV text.</summary>
    public static string Of(IEnumerable<IEnumerable<object?>> rows)
    {
        var sb = new StringBuilder();
        foreach (var row in rows)
        {
            sb.AppendJoin(',', row.Select(Field));
            sb.Append("\r\n");
        }
        return sb.ToString();
    }

    private static string Field(object? value)
    {
        string text = value switch
        {
            null => "",
            double d => d.ToString("R", CultureInfo.InvariantCulture),
            float f => f.ToString("R", CultureInfo.InvariantCulture),
            IFormattable x => x.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString() ?? "",
        };
        return text.IndexOfAny([',', '"', '\r', '\n']) >= 0 ? "\"" + text.Replace("\"", "\"\"") + "\"" : text;
    }
}
