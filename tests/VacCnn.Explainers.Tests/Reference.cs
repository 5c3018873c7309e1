namespace VacCnn.Explainers.Tests;

/// <summary>Independent, deliberately naive reference computations used by the tests (not the plugins' code).</summary>
public static class Reference
{
    /// <summary>
    /// Bilinear value at output pixel (oy, ox) of a map resized from h×w to outH×outW, half-pixel centres with
    /// negative source coordinates clamped to 0 (PyTorch interpolate, align_corners=False).
    /// </summary>
    public static double BilinearAt(float[] map, int h, int w, int outH, int outW, int oy, int ox)
    {
        double sy = Math.Max(0, (oy + 0.5) * h / outH - 0.5), sx = Math.Max(0, (ox + 0.5) * w / outW - 0.5);
        int y0 = (int)sy, x0 = (int)sx;
        int y1 = Math.Min(y0 + 1, h - 1), x1 = Math.Min(x0 + 1, w - 1);
        double fy = sy - y0, fx = sx - x0;
        return map[y0 * w + x0] * (1 - fy) * (1 - fx) + map[y0 * w + x1] * (1 - fy) * fx
             + map[y1 * w + x0] * fy * (1 - fx) + map[y1 * w + x1] * fy * fx;
    }

    public static double[] Upsample(float[] map, int h, int w, int outH, int outW)
    {
        var r = new double[outH * outW];
        for (int y = 0; y < outH; y++)
            for (int x = 0; x < outW; x++) r[y * outW + x] = BilinearAt(map, h, w, outH, outW, y, x);
        return r;
    }

    public static double[] MinMax(double[] v)
    {
        double min = v.Min(), max = v.Max();
        return v.Select(x => max > min ? (x - min) / (max - min) : 0).ToArray();
    }
}
