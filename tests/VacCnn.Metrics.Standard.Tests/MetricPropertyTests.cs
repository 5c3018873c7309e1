using VacCnn.Contracts;

namespace VacCnn.Metrics.Standard.Tests;

/// <summary>Properties every metric must have.</summary>
public class MetricPropertyTests
{
    public static TheoryData<string> Ids => new() { "ssim", "mse", "l1", "phash" };

    internal static ISimilarityMetric Get(string id) => id switch
    {
        "ssim" => new SsimMetric(),
        "mse" => new MseMetric(),
        "l1" => new L1Metric(),
        "phash" => new PerceptualHashMetric(),
        _ => throw new ArgumentException(id),
    };

    [Theory, MemberData(nameof(Ids))]
    public void Identity_is_one_and_results_are_symmetric_and_in_unit_interval(string id)
    {
        var m = Get(id);
        Assert.Equal(id, m.Id);
        for (int seed = 0; seed < 5; seed++)
        {
            var a = Maps.Smooth(48, 40, seed);
            var b = Maps.Smooth(48, 40, seed + 100);
            Assert.Equal(1.0, m.Similarity(a, a), 12);
            double ab = m.Similarity(a, b), ba = m.Similarity(b, a);
            Assert.Equal(ab, ba, 12);
            Assert.InRange(ab, 0.0, 1.0);
        }
    }

    [Theory, MemberData(nameof(Ids))]
    public void Constant_map_against_itself_is_one(string id)
    {
        var m = Get(id);
        foreach (float c in new[] { 0f, 0.3f, 1f })
        {
            var a = Maps.Of(20, 16, Enumerable.Repeat(c, 320).ToArray());
            Assert.Equal(1.0, m.Similarity(a, a), 12);
        }
    }

    [Theory, MemberData(nameof(Ids))]
    public void Shifted_blob_scores_lower_than_unshifted_and_a_far_shift_lowest(string id)
    {
        var m = Get(id);
        var a = Maps.Blob(64, 64, 24, 30, 6);
        var near = Maps.Blob(64, 64, 28, 30, 6);
        var far = Maps.Blob(64, 64, 44, 30, 6);
        double same = m.Similarity(a, Maps.Blob(64, 64, 24, 30, 6));
        double sNear = m.Similarity(a, near), sFar = m.Similarity(a, far);
        Assert.Equal(1.0, same, 12);
        Assert.True(sNear < same, $"{id}: shifted {sNear} should be < {same}");
        Assert.True(sFar < sNear, $"{id}: far shift {sFar} should be < near shift {sNear}");
    }

    [Theory, MemberData(nameof(Ids))]
    public void Different_sizes_are_rejected_with_a_clear_message(string id)
    {
        var e = Assert.Throws<ArgumentException>(() => Get(id).Similarity(Maps.Random(12, 12, 1), Maps.Random(12, 13, 1)));
        Assert.Contains("12×12", e.Message);
        Assert.Contains("12×13", e.Message);
        Assert.Contains("same size", e.Message);
    }

    [Theory, MemberData(nameof(Ids))]
    public void Description_is_one_sentence_mentioning_the_unit_interval(string id)
    {
        var m = Get(id);
        Assert.False(string.IsNullOrWhiteSpace(m.DisplayName));
        Assert.EndsWith(".", m.Description);
        Assert.Single(m.Description.Split(". ", StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("1 = ", m.Description);
    }
}
