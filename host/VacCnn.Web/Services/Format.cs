using System.Globalization;

namespace VacCnn.Web.Services;

/// <summary>Culture-independent number and time formatting shared by pages (tests compare these strings).</summary>
public static class Format
{
    /// <summary>Who runs which shards, e.g. "node-a · pid 41: shards 3, 7; node-b · pid 12: shard 5", or "—" (same wording as site.js).</summary>
    public static string Workers(IReadOnlyList<WorkerView> workers) => workers.Count == 0 ? "—" : string.Join("; ",
        workers.Select(w => $"{w.Worker}: {(w.Shards.Count == 1 ? "shard" : "shards")} {string.Join(", ", w.Shards)}"));

    /// <summary>A fraction as a percentage with one decimal, e.g. "71.3 %".</summary>
    public static string Percent(double? fraction) =>
        fraction is double f ? (f * 100).ToString("F1", CultureInfo.InvariantCulture) + " %" : "—";

    /// <summary>A number with <paramref name="decimals"/> decimals.</summary>
    public static string Number(double value, int decimals) => value.ToString("F" + decimals, CultureInfo.InvariantCulture);

    /// <summary>A duration in seconds as "1 h 02 min", "3 min 05 s" or "12 s"; "—" when unknown.</summary>
    public static string Duration(double? seconds)
    {
        if (seconds is not double s || double.IsNaN(s) || double.IsInfinity(s)) return "—";
        var t = TimeSpan.FromSeconds(Math.Max(0, Math.Round(s)));
        if (t.TotalHours >= 1) return $"{(int)t.TotalHours} h {t.Minutes:D2} min";
        if (t.TotalMinutes >= 1) return $"{t.Minutes} min {t.Seconds:D2} s";
        return $"{t.Seconds} s";
    }

    /// <summary>UTC time as "yyyy-MM-dd HH:mm UTC".</summary>
    public static string Utc(DateTime? time) =>
        time is DateTime t ? t.ToUniversalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + " UTC" : "—";
}
