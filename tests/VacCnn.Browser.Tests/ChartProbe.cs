using Microsoft.Playwright;

namespace VacCnn.Browser.Tests;

/// <summary>Reads where Chart.js drew things, so tests can point the real mouse at them.</summary>
internal static class ChartProbe
{
    /// <summary>
    /// A point of a class scatter well inside the plot with no other point within <paramref name="gap"/> pixels (so
    /// hovering or clicking it is unambiguous): its page coordinates and class index, or null when there is none.
    /// </summary>
    public static async Task<(float X, float Y, int ClassIndex)?> IsolatedPoint(IPage page, string canvas, double gap = 10)
    {
        await page.Locator("#" + canvas).ScrollIntoViewIfNeededAsync();
        var hit = await page.EvaluateAsync<double[]?>("([id, gap]) => { const c = Chart.getChart(document.getElementById(id)); const a = c.chartArea; " +
            "const all = c.data.datasets.flatMap((ds, k) => c.getDatasetMeta(k).data.map((e, i) => ({ x: e.x, y: e.y, index: ds.data[i].index }))); " +
            "const p = all.find(p => p.x > a.left + 10 && p.x < a.right - 10 && p.y > a.top + 10 && p.y < a.bottom - 10 && " +
            "all.every(q => q === p || Math.hypot(q.x - p.x, q.y - p.y) > gap)); const r = c.canvas.getBoundingClientRect(); " +
            "return p ? [r.left + p.x, r.top + p.y, p.index] : null; }", new object[] { canvas, gap });
        return hit == null ? null : ((float)hit[0], (float)hit[1], (int)hit[2]);
    }
}
