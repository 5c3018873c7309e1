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

    /// <summary>
    /// A square matrix labelled by <paramref name="ids"/>: a header "model,&lt;ids&gt;", then one row per id with the id
    /// first (pandas: <c>read_csv(f, index_col=0)</c>; NumPy: <c>loadtxt(f, delimiter=',', skiprows=1, usecols=…)</c>).
    /// </summary>
    public static string Matrix(IReadOnlyList<string> ids, double[,] matrix)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(matrix);
        int n = ids.Count;
        if (matrix.GetLength(0) != n || matrix.GetLength(1) != n)
            throw new ArgumentException($"a {matrix.GetLength(0)} × {matrix.GetLength(1)} matrix for {n} ids", nameof(matrix));
        return Of(Enumerable.Range(0, n).Select(i => Enumerable.Range(0, n).Select(j => (object?)matrix[i, j]).Prepend(ids[i]))
            .Prepend(ids.Cast<object?>().Prepend("model")));
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
