namespace VacCnn.TestSupport;

/// <summary>Deliberately naive statistics for the tests to check the code against (not the code's own routines).</summary>
public static class ReferenceStatistics
{
    /// <summary>Spearman rank correlation (average ranks for ties).</summary>
    public static double Spearman(IReadOnlyList<float> a, IReadOnlyList<float> b)
    {
        var ra = Ranks(a);
        var rb = Ranks(b);
        double ma = ra.Average(), mb = rb.Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < ra.Length; i++)
        {
            sab += (ra[i] - ma) * (rb[i] - mb);
            saa += (ra[i] - ma) * (ra[i] - ma);
            sbb += (rb[i] - mb) * (rb[i] - mb);
        }
        return saa == 0 || sbb == 0 ? 0 : sab / Math.Sqrt(saa * sbb);
    }

    private static double[] Ranks(IReadOnlyList<float> v)
    {
        var order = Enumerable.Range(0, v.Count).OrderBy(i => v[i]).ToArray();
        var ranks = new double[v.Count];
        for (int i = 0; i < order.Length;)
        {
            int j = i;
            while (j + 1 < order.Length && v[order[j + 1]] == v[order[i]]) j++;
            double r = (i + j) / 2.0;
            for (int t = i; t <= j; t++) ranks[order[t]] = r;
            i = j + 1;
        }
        return ranks;
    }
}
