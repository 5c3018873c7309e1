using SixLabors.ImageSharp.PixelFormats;

namespace VacCnn.Engine.Explanations;

/// <summary>
/// Colour maps for saliency values in [0, 1], linearly interpolated between published control points.
/// <list type="bullet">
/// <item><b>viridis</b>, <b>inferno</b> (default viridis): perceptually uniform maps by Stéfan van der Walt and
/// Nathaniel Smith (2015, CC0), every 16th entry (0, 16, …, 240, 255) of the 256-entry tables in matplotlib's
/// <c>lib/matplotlib/_cm_listed.py</c>; linear interpolation between them stays within ~0.01 of the full table.</item>
/// <item><b>jet</b>: matplotlib's <c>_jet_data</c> segment data (<c>lib/matplotlib/_cm.py</c>), exact. Not
/// perceptually uniform (bright bands look like edges); offered because much of the literature uses it.</item>
/// </list>
/// </summary>
public static class Colormaps
{
    /// <summary>Names accepted by <see cref="Map"/>.</summary>
    public static IReadOnlyList<string> Names { get; } = ["viridis", "inferno", "jet"];

    // Rows of (r, g, b) at table indices 0, 16, …, 240, 255.
    private static readonly int[] ListedIndex = [0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 255];

    private static readonly double[,] Viridis =
    {
        { 0.267004, 0.004874, 0.329415 }, { 0.282327, 0.094955, 0.417331 }, { 0.278826, 0.175490, 0.483397 },
        { 0.258965, 0.251537, 0.524736 }, { 0.229739, 0.322361, 0.545706 }, { 0.199430, 0.387607, 0.554642 },
        { 0.172719, 0.448791, 0.557885 }, { 0.149039, 0.508051, 0.557250 }, { 0.127568, 0.566949, 0.550556 },
        { 0.120638, 0.625828, 0.533488 }, { 0.157851, 0.683765, 0.501686 }, { 0.246070, 0.738910, 0.452024 },
        { 0.369214, 0.788888, 0.382914 }, { 0.515992, 0.831158, 0.294279 }, { 0.678489, 0.863742, 0.189503 },
        { 0.845561, 0.887322, 0.099702 }, { 0.993248, 0.906157, 0.143936 },
    };

    private static readonly double[,] Inferno =
    {
        { 0.001462, 0.000466, 0.013866 }, { 0.042253, 0.028139, 0.141141 }, { 0.129285, 0.047293, 0.290788 },
        { 0.238273, 0.036621, 0.396353 }, { 0.341500, 0.062325, 0.429425 }, { 0.441207, 0.099338, 0.431594 },
        { 0.540920, 0.134729, 0.415123 }, { 0.640135, 0.171438, 0.381065 }, { 0.735683, 0.215906, 0.330245 },
        { 0.822386, 0.275197, 0.266085 }, { 0.894305, 0.353399, 0.193584 }, { 0.946965, 0.449191, 0.115272 },
        { 0.978422, 0.557937, 0.034931 }, { 0.987874, 0.675267, 0.065257 }, { 0.974638, 0.797692, 0.206332 },
        { 0.947594, 0.917399, 0.410665 }, { 0.988362, 0.998364, 0.644924 },
    };

    // matplotlib _jet_data: (x, value) breakpoints per channel.
    private static readonly (double X, double V)[] JetRed = [(0, 0), (0.35, 0), (0.66, 1), (0.89, 1), (1, 0.5)];
    private static readonly (double X, double V)[] JetGreen = [(0, 0), (0.125, 0), (0.375, 1), (0.64, 1), (0.91, 0), (1, 0)];
    private static readonly (double X, double V)[] JetBlue = [(0, 0.5), (0.11, 1), (0.34, 1), (0.65, 0), (1, 0)];

    /// <summary>True when <paramref name="name"/> is a known colour map (case-insensitive).</summary>
    public static bool IsKnown(string name) => Names.Contains(name.ToLowerInvariant());

    /// <summary>The colour of <paramref name="t"/> (clamped to [0, 1]) in colour map <paramref name="name"/>.</summary>
    public static Rgb24 Map(string name, double t)
    {
        var (r, g, b) = MapUnit(name, t);
        return new Rgb24(ToByte(r), ToByte(g), ToByte(b));
    }

    /// <summary>The colour as three values in [0, 1].</summary>
    public static (double R, double G, double B) MapUnit(string name, double t)
    {
        t = double.IsNaN(t) ? 0 : Math.Clamp(t, 0, 1);
        return name.ToLowerInvariant() switch
        {
            "viridis" => Listed(Viridis, t),
            "inferno" => Listed(Inferno, t),
            "jet" => (Segment(JetRed, t), Segment(JetGreen, t), Segment(JetBlue, t)),
            _ => throw new ArgumentException($"unknown colour map '{name}'; known: {string.Join(", ", Names)}", nameof(name)),
        };
    }

    /// <summary>A 256-entry lookup table, for rendering many pixels.</summary>
    public static Rgb24[] Table(string name) => Enumerable.Range(0, 256).Select(i => Map(name, i / 255.0)).ToArray();

    private static (double, double, double) Listed(double[,] rows, double t)
    {
        double pos = t * 255; // position in the original 256-entry table
        int k = 0;
        while (k < ListedIndex.Length - 2 && pos > ListedIndex[k + 1]) k++;
        double f = (pos - ListedIndex[k]) / (ListedIndex[k + 1] - ListedIndex[k]);
        return (Lerp(rows[k, 0], rows[k + 1, 0], f), Lerp(rows[k, 1], rows[k + 1, 1], f), Lerp(rows[k, 2], rows[k + 1, 2], f));
    }

    private static double Segment((double X, double V)[] points, double t)
    {
        for (int i = 0; i < points.Length - 1; i++)
            if (t <= points[i + 1].X)
                return Lerp(points[i].V, points[i + 1].V, (t - points[i].X) / (points[i + 1].X - points[i].X));
        return points[^1].V;
    }

    private static double Lerp(double a, double b, double f) => a + (b - a) * f;

    private static byte ToByte(double v) => (byte)Math.Round(Math.Clamp(v, 0, 1) * 255, MidpointRounding.AwayFromZero);
}
