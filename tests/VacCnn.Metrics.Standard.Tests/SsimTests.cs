using System.Diagnostics;
using System.Globalization;
using VacCnn.Contracts;

namespace VacCnn.Metrics.Standard.Tests;

public class SsimTests
{
    /// <summary>
    /// Independent reference straight from Wang et al. (2004), eqs. 13–15 with Gaussian weights: for every window that
    /// lies wholly inside the map, weighted mean, weighted (population) variance and covariance by direct summation
    /// over the 11 × 11 window, two-pass (not E[x²] − μ²), with a 2-D normalised window.
    /// </summary>
    private static double ReferenceSsim(SaliencyMap a, SaliencyMap b)
    {
        const int r = 5; const double sigma = 1.5, c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
        var win = new double[2 * r + 1, 2 * r + 1];
        double total = 0;
        for (int p = -r; p <= r; p++)
            for (int q = -r; q <= r; q++) total += win[p + r, q + r] = Math.Exp(-(p * p + q * q) / (2 * sigma * sigma));
        double sum = 0; int count = 0;
        for (int i = r; i < a.Height - r; i++)
            for (int j = r; j < a.Width - r; j++)
            {
                double mx = 0, my = 0;
                for (int p = -r; p <= r; p++)
                    for (int q = -r; q <= r; q++)
                    {
                        double wt = win[p + r, q + r] / total;
                        mx += wt * a.Values[(i + p) * a.Width + j + q];
                        my += wt * b.Values[(i + p) * a.Width + j + q];
                    }
                double sx = 0, sy = 0, sxy = 0;
                for (int p = -r; p <= r; p++)
                    for (int q = -r; q <= r; q++)
                    {
                        double wt = win[p + r, q + r] / total;
                        double dx = a.Values[(i + p) * a.Width + j + q] - mx, dy = b.Values[(i + p) * a.Width + j + q] - my;
                        sx += wt * dx * dx; sy += wt * dy * dy; sxy += wt * dx * dy;
                    }
                sum += (2 * mx * my + c1) * (2 * sxy + c2) / ((mx * mx + my * my + c1) * (sx + sy + c2));
                count++;
            }
        return sum / count;
    }

    [Theory]
    [InlineData(11, 11, 1)]
    [InlineData(23, 17, 2)]
    [InlineData(40, 32, 3)]
    [InlineData(64, 64, 4)]
    public void Matches_a_direct_implementation_of_the_paper_formula(int w, int h, int seed)
    {
        foreach (var (a, b) in new[]
                 {
                     (Maps.Random(w, h, seed), Maps.Random(w, h, seed + 50)),
                     (Maps.Smooth(w, h, seed), Maps.Smooth(w, h, seed + 50)),
                     (Maps.Blob(w, h, w / 3.0, h / 2.0, 4), Maps.Blob(w, h, w / 2.0, h / 2.0, 4)),
                 })
            Assert.Equal(ReferenceSsim(a, b), SsimMetric.Ssim(a, b), 10);
    }

    [Fact]
    public void Two_constant_maps_give_the_luminance_term_only()
    {
        // σ = 0 everywhere, so SSIM = (2·0.2·0.6 + C1) / (0.2² + 0.6² + C1) = 0.2401 / 0.4001.
        var a = Maps.Of(16, 12, Enumerable.Repeat(0.2f, 192).ToArray());
        var b = Maps.Of(16, 12, Enumerable.Repeat(0.6f, 192).ToArray());
        Assert.Equal(0.2401 / 0.4001, new SsimMetric().Similarity(a, b), 6); // float storage of 0.2 / 0.6
    }

    [Fact]
    public void Anti_correlated_maps_score_zero()
    {
        var a = Maps.Of(32, 32, (x, y) => (x + y) % 2);
        var b = Maps.Of(32, 32, (x, y) => 1 - (x + y) % 2);
        Assert.True(SsimMetric.Ssim(a, b) < 0);
        Assert.Equal(0.0, new SsimMetric().Similarity(a, b));
    }

    [Fact]
    public void Maps_smaller_than_the_window_still_work()
    {
        var a = Maps.Smooth(7, 7, 1);
        Assert.Equal(1.0, new SsimMetric().Similarity(a, a), 12);
        Assert.InRange(new SsimMetric().Similarity(a, Maps.Smooth(7, 7, 2)), 0.0, 1.0);
    }

    [Fact]
    public void Matches_scikit_image_when_it_is_installed()
    {
        if (!Python("import skimage", out _)) return; // not installed on every machine; the paper reference above always runs
        string dir = Path.Combine(Path.GetTempPath(), "vaccnn-ssim-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var cases = new List<(SaliencyMap A, SaliencyMap B)>();
            for (int s = 0; s < 4; s++) cases.Add((Maps.Random(37 + s, 29 + s, s), Maps.Smooth(37 + s, 29 + s, s + 9)));
            for (int k = 0; k < cases.Count; k++)
            {
                File.WriteAllText(Path.Combine(dir, $"a{k}.txt"), Text(cases[k].A));
                File.WriteAllText(Path.Combine(dir, $"b{k}.txt"), Text(cases[k].B));
            }
            string script = $"""
                import numpy as np
                from skimage.metrics import structural_similarity as ssim
                for k in range({cases.Count}):
                    a = np.loadtxt(r'{dir}/a%d.txt' % k, dtype=np.float32).astype(np.float64)
                    b = np.loadtxt(r'{dir}/b%d.txt' % k, dtype=np.float32).astype(np.float64)
                    print(repr(ssim(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)))
                """;
            Assert.True(Python(script, out string output), output);
            var expected = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            for (int k = 0; k < cases.Count; k++)
                Assert.Equal(expected[k], SsimMetric.Ssim(cases[k].A, cases[k].B), 6);
        }
        finally { Directory.Delete(dir, true); }
    }

    private static string Text(SaliencyMap m) => string.Join("\n", Enumerable.Range(0, m.Height).Select(r =>
        string.Join(" ", Enumerable.Range(0, m.Width).Select(c => m.Values[r * m.Width + c].ToString("R", CultureInfo.InvariantCulture)))));

    private static bool Python(string script, out string output)
    {
        try
        {
            var psi = new ProcessStartInfo("python3") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add("-");
            using var p = Process.Start(psi)!;
            p.StandardInput.Write(script);
            p.StandardInput.Close();
            output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception e) { output = e.Message; return false; }
    }
}
