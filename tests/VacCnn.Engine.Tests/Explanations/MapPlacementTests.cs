using VacCnn.Contracts;
using VacCnn.Engine.Explanations;

namespace VacCnn.Engine.Tests.Explanations;

public class MapPlacementTests
{
    private static SaliencyMap Map(int w, int h, params float[] v) => new(w, h, v, 7, 0.5f, "layer");

    [Fact]
    public void One_row_into_a_centred_rectangle_by_hand()
    {
        // Map [0, 1] (2 × 1) over x ∈ [1, 5) of a 6 × 2 image. Pixel centre c maps to u = (c − 1)/4·2 − 0.5:
        // c = 1.5 → −0.25 (clamped 0) → 0; 2.5 → 0.25; 3.5 → 0.75; 4.5 → 1.25 (clamped 1) → 1; 0.5 and 5.5 lie outside.
        var r = MapPlacement.ToOriginal(Map(2, 1, 0f, 1f), 6, 2, (1, 0, 4, 2));
        float[] row = [0, 0, 0.25f, 0.75f, 1, 0];
        Assert.Equal([.. row, .. row], r.Values);
        Assert.Equal((6, 2, 7, 0.5f, "layer"), (r.Width, r.Height, r.ClassIndex, r.Probability, r.Layer));
    }

    [Fact]
    public void Bilinear_2x2_to_4x4_by_hand()
    {
        // [[0, 1], [1, 0]] over the whole 4 × 4 image. Pixel 1 → u = 1.5/4·2 − 0.5 = 0.25; pixel 2 → 0.75.
        var r = MapPlacement.ToOriginal(Map(2, 2, 0, 1, 1, 0), 4, 4, (0, 0, 4, 4));
        float At(int x, int y) => r.Values[y * 4 + x];
        Assert.Equal(0f, At(0, 0));
        Assert.Equal(0.75f * 0.25f + 0.25f * 0.75f, At(1, 1), 6);           // 0.375
        Assert.Equal(0.25f * 0.25f + 0.75f * 0.75f, At(2, 1), 6);           // 0.625
        Assert.Equal(0.25f, At(1, 0), 6);                                   // top row, clamped v = 0
        Assert.Equal(1f, At(3, 0));
    }

    [Fact]
    public void Same_size_full_rectangle_is_the_identity_and_fractional_rectangles_stay_in_range()
    {
        var rng = new Random(3);
        var v = Enumerable.Range(0, 35).Select(_ => (float)rng.NextDouble()).ToArray();
        Assert.Equal(v, MapPlacement.ToOriginal(Map(7, 5, v), 7, 5, (0, 0, 7, 5)).Values);

        var r = MapPlacement.ToOriginal(Map(7, 5, v), 40, 30, (3.3, -2.5, 30.7, 31.2));
        Assert.All(r.Values, x => Assert.InRange(x, 0f, 1f));
        Assert.Equal(0f, r.Values[0 * 40 + 2]);  // x centre 2.5 < 3.3: outside
        Assert.Equal(0f, r.Values[29 * 40 + 33]);    // y centre 29.5 ≥ −2.5 + 31.2 = 28.7: outside
        Assert.Equal(0f, r.Values[10 * 40 + 34]);    // x centre 34.5 ≥ 3.3 + 30.7 = 34.0: outside
        Assert.Equal(v[4 * 7 + 6], r.Values[28 * 40 + 33]); // bottom-right inside pixel clamps to the map's corner
    }
}
