namespace VacCnn.Engine.Analytics;

/// <summary>A similarity transform of the plane: p ↦ Scale · R · p + (Tx, Ty), R a rotation or a reflection.</summary>
/// <param name="R00">R, row 0 column 0.</param>
/// <param name="R01">R, row 0 column 1.</param>
/// <param name="R10">R, row 1 column 0.</param>
/// <param name="R11">R, row 1 column 1.</param>
/// <param name="Scale">Uniform scale.</param>
/// <param name="Tx">Translation, x.</param>
/// <param name="Ty">Translation, y.</param>
/// <param name="Residual">Root-mean-square distance between the transformed points and the reference after the fit.</param>
public sealed record PlaneTransform(double R00, double R01, double R10, double R11, double Scale, double Tx, double Ty, double Residual)
{
    /// <summary>Applies the transform in place.</summary>
    public void Apply(float[] x, float[] y)
    {
        for (int i = 0; i < x.Length; i++)
        {
            double a = x[i], b = y[i];
            x[i] = (float)(Scale * (R00 * a + R01 * b) + Tx);
            y[i] = (float)(Scale * (R10 * a + R11 * b) + Ty);
        }
    }
}

/// <summary>
/// Orthogonal Procrustes with scaling (Schönemann 1966; Gower): the rotation or reflection, uniform scale and
/// translation that bring a layout closest, in least squares, to a reference over the points they share. t-SNE's
/// result is only defined up to exactly these (plus the scale of the picture), so aligning every model's graph to one
/// reference makes them comparable by eye without changing any distance ratio within a graph.
/// </summary>
public static class Procrustes
{
    /// <summary>
    /// Fits the transform taking (x[i], y[i]) to (refX[i], refY[i]) for every i where <paramref name="use"/> is null
    /// or true. With fewer than two usable points the identity (and the translation of the one point) is returned.
    /// </summary>
    public static PlaneTransform Fit(float[] x, float[] y, float[] refX, float[] refY, bool[]? use = null)
    {
        int n = x.Length;
        if (y.Length != n || refX.Length != n || refY.Length != n || (use != null && use.Length != n))
            throw new ArgumentException("layout, reference and mask must have the same length");
        double m = 0, mx = 0, my = 0, rx = 0, ry = 0;
        for (int i = 0; i < n; i++)
            if (use?[i] ?? true) { m++; mx += x[i]; my += y[i]; rx += refX[i]; ry += refY[i]; }
        if (m == 0) return new PlaneTransform(1, 0, 0, 1, 1, 0, 0, 0);
        mx /= m; my /= m; rx /= m; ry /= m;
        // Cross-covariance M = Σ r_c p_cᵀ and the layout's spread.
        double a = 0, b = 0, c = 0, d = 0, spread = 0;
        for (int i = 0; i < n; i++)
        {
            if (!(use?[i] ?? true)) continue;
            double px = x[i] - mx, py = y[i] - my, qx = refX[i] - rx, qy = refY[i] - ry;
            a += qx * px; b += qx * py; c += qy * px; d += qy * py;
            spread += px * px + py * py;
        }
        // The optimal R maximises trace(Rᵀ M). For 2 × 2: the best rotation by angle atan2(c − b, a + d) gives a trace of
        // |(a + d, c − b)|, the best reflection by atan2(b + c, a − d) one of |(a − d, b + c)|; take the larger.
        double rotation = Math.Sqrt((a + d) * (a + d) + (c - b) * (c - b));
        double reflection = Math.Sqrt((a - d) * (a - d) + (b + c) * (b + c));
        double r00, r01, r10, r11, trace;
        if (rotation >= reflection)
        {
            double t = Math.Atan2(c - b, a + d);
            (r00, r01, r10, r11, trace) = (Math.Cos(t), -Math.Sin(t), Math.Sin(t), Math.Cos(t), rotation);
        }
        else
        {
            double t = Math.Atan2(b + c, a - d);
            (r00, r01, r10, r11, trace) = (Math.Cos(t), Math.Sin(t), Math.Sin(t), -Math.Cos(t), reflection);
        }
        double scale = spread > 0 ? trace / spread : 1;
        double tx = rx - scale * (r00 * mx + r01 * my), ty = ry - scale * (r10 * mx + r11 * my);
        double sq = 0;
        for (int i = 0; i < n; i++)
        {
            if (!(use?[i] ?? true)) continue;
            double ex = scale * (r00 * x[i] + r01 * y[i]) + tx - refX[i];
            double ey = scale * (r10 * x[i] + r11 * y[i]) + ty - refY[i];
            sq += ex * ex + ey * ey;
        }
        return new PlaneTransform(r00, r01, r10, r11, scale, tx, ty, Math.Sqrt(sq / m));
    }
}
