namespace VacCnn.Engine.Explanations;

/// <summary>Gaussian smoothing and iso-lines (marching squares) on a scalar field stored row-major.</summary>
public static class Contours
{
    /// <summary>A line segment in image coordinates (pixel (x, y) has its centre at (x + 0.5, y + 0.5)).</summary>
    public readonly record struct Segment(double X0, double Y0, double X1, double Y1);

    /// <summary>
    /// Separable Gaussian blur like <c>scipy.ndimage.gaussian_filter(field, sigma)</c>: kernel truncated at 4σ,
    /// mirror ("reflect") borders.
    /// </summary>
    public static double[] GaussianBlur(ReadOnlySpan<float> field, int width, int height, double sigma)
    {
        var src = new double[width * height];
        for (int i = 0; i < src.Length; i++) src[i] = field[i];
        if (sigma <= 0) return src;
        int radius = (int)(4 * sigma + 0.5);
        var k = new double[2 * radius + 1];
        double total = 0;
        for (int i = -radius; i <= radius; i++) total += k[i + radius] = Math.Exp(-0.5 * i * i / (sigma * sigma));
        for (int i = 0; i < k.Length; i++) k[i] /= total;
        var tmp = new double[src.Length];
        var dst = new double[src.Length];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                double s = 0;
                for (int d = -radius; d <= radius; d++) s += k[d + radius] * src[y * width + Reflect(x + d, width)];
                tmp[y * width + x] = s;
            }
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                double s = 0;
                for (int d = -radius; d <= radius; d++) s += k[d + radius] * tmp[Reflect(y + d, height) * width + x];
                dst[y * width + x] = s;
            }
        return dst;
    }

    private static int Reflect(int i, int n)
    {
        int period = 2 * n;
        int m = ((i % period) + period) % period;
        return m < n ? m : period - 1 - m;
    }

    /// <summary>
    /// Marching squares: the iso-line <c>field = level</c> as segments, with crossing points linearly interpolated
    /// along cell edges between pixel centres. Saddle cells are resolved by the cell's mean value, so lines never
    /// cross. Inside the image the result is a set of closed curves; curves that reach the border stop there.
    /// </summary>
    public static List<Segment> IsoLines(double[] field, int width, int height, double level)
    {
        var segments = new List<Segment>();
        for (int y = 0; y < height - 1; y++)
            for (int x = 0; x < width - 1; x++)
            {
                double a = field[y * width + x], b = field[y * width + x + 1];        // top-left, top-right
                double c = field[(y + 1) * width + x + 1], d = field[(y + 1) * width + x]; // bottom-right, bottom-left
                int code = (a >= level ? 8 : 0) | (b >= level ? 4 : 0) | (c >= level ? 2 : 0) | (d >= level ? 1 : 0);
                if (code is 0 or 15) continue;
                double cx = x + 0.5, cy = y + 0.5;
                // Crossing points on the four edges.
                (double, double) Top() => (cx + T(a, b), cy);
                (double, double) Right() => (cx + 1, cy + T(b, c));
                (double, double) Bottom() => (cx + T(d, c), cy + 1);
                (double, double) Left() => (cx, cy + T(a, d));
                double T(double p, double q) => Math.Clamp((level - p) / (q - p), 0, 1);
                void Add((double X, double Y) p, (double X, double Y) q) => segments.Add(new Segment(p.X, p.Y, q.X, q.Y));
                switch (code)
                {
                    case 1: case 14: Add(Left(), Bottom()); break;
                    case 2: case 13: Add(Bottom(), Right()); break;
                    case 3: case 12: Add(Left(), Right()); break;
                    case 4: case 11: Add(Top(), Right()); break;
                    case 6: case 9: Add(Top(), Bottom()); break;
                    case 7: case 8: Add(Left(), Top()); break;
                    case 5: // a, c below; b, d above
                        if ((a + b + c + d) / 4 >= level) { Add(Left(), Top()); Add(Bottom(), Right()); }
                        else { Add(Top(), Right()); Add(Left(), Bottom()); }
                        break;
                    case 10: // a, c above; b, d below
                        if ((a + b + c + d) / 4 >= level) { Add(Top(), Right()); Add(Left(), Bottom()); }
                        else { Add(Left(), Top()); Add(Bottom(), Right()); }
                        break;
                }
            }
        return segments;
    }
}
