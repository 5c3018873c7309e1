namespace VacCnn.Cli;

/// <summary>Parsed command line: a verb, flags (repeatable), switches and positional arguments.</summary>
internal sealed class CliArgs
{
    private static readonly HashSet<string> Switches = ["--json", "--help", "-h", "--no-progress"];
    private readonly Dictionary<string, List<string>> _flags = new(StringComparer.Ordinal);
    private readonly HashSet<string> _switches = new(StringComparer.Ordinal);

    public string Verb { get; private init; } = "";
    public List<string> Positional { get; } = [];

    public static CliArgs Parse(string[] args)
    {
        var result = new CliArgs { Verb = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "" };
        for (int i = result.Verb.Length > 0 ? 1 : 0; i < args.Length; i++)
        {
            string a = args[i];
            if (Switches.Contains(a)) { result._switches.Add(a); continue; }
            if (a.StartsWith("--", StringComparison.Ordinal))
            {
                string name = a, value;
                int eq = a.IndexOf('=');
                if (eq > 0) { name = a[..eq]; value = a[(eq + 1)..]; }
                else if (i + 1 < args.Length) value = args[++i];
                else throw new CliException($"option {a} needs a value");
                if (!result._flags.TryGetValue(name, out var list)) result._flags[name] = list = [];
                list.Add(value);
                continue;
            }
            result.Positional.Add(a);
        }
        return result;
    }

    public bool Has(string name) => _switches.Contains(name);

    public string? Get(string name) => _flags.TryGetValue(name, out var v) ? v[^1] : null;

    public IReadOnlyList<string> GetAll(string name) => _flags.TryGetValue(name, out var v) ? v : [];

    public string Require(string name, string what) =>
        Get(name) ?? throw new CliException($"missing {name} ({what})");

    public int GetInt(string name, int fallback, int min, int max)
    {
        string? v = Get(name);
        if (v == null) return fallback;
        if (!int.TryParse(v, out int n) || n < min || n > max)
            throw new CliException($"{name} must be an integer between {min} and {max}, got '{v}'");
        return n;
    }

    /// <summary>A finite number, or <paramref name="fallback"/> when the flag is absent; bounds checked when given.</summary>
    public double GetDouble(string name, double fallback, double min = double.NegativeInfinity, double max = double.PositiveInfinity)
    {
        string? v = Get(name);
        if (v == null) return fallback;
        bool bounded = min > double.NegativeInfinity || max < double.PositiveInfinity;
        if (!double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double d)
            || !double.IsFinite(d) || d < min || d > max)
            throw new CliException(bounded
                ? $"{name} must be a number between {min.ToString(System.Globalization.CultureInfo.InvariantCulture)} and {max.ToString(System.Globalization.CultureInfo.InvariantCulture)}, got '{v}'"
                : $"{name} must be a number, got '{v}'");
        return d;
    }

    /// <summary>Refuses the first flag not in <paramref name="known"/>.</summary>
    public void RejectUnknown(params string[] known)
    {
        if (_flags.Keys.FirstOrDefault(k => !known.Contains(k)) is { } unknown) throw new CliException($"unknown option {unknown}");
    }
}

/// <summary>A user error: printed as one line, exit code 2.</summary>
internal sealed class CliException(string message) : Exception(message);
