using System.Diagnostics;
using VacCnn.Contracts;
using VacCnn.Explainers.Cam;
using Xunit.Abstractions;

namespace VacCnn.Explainers.Tests;

/// <summary>
/// Sanity checks on a real model and real images: model randomisation (Adebayo et al., NeurIPS 2018) and the
/// deletion metric (Petsiuk et al., RISE 2018). Settings are reduced for speed and stated in each test.
/// </summary>
[Collection(RealModelsCollection.Name)]
public sealed class SanityCheckTests(RealModelsFixture real, ITestOutputHelper output)
{
    private static ExplanationRequest Request(int? cls, int seed, Dictionary<string, double>? settings = null) =>
        new(cls, null, seed, settings ?? []);

    private static int Predicted(IClassifier model, FloatTensor image)
    {
        var p = model.PredictProbabilities(image).Data;
        return Array.IndexOf(p, p.Max());
    }

    [Fact]
    public void The_randomised_copy_really_lost_what_it_learned()
    {
        // Guards the randomisation check: if the weights had not changed, trained vs randomised maps would agree.
        Assert.Equal(RealModelsFixture.RandomisedLayers, real.RandomisedInitializers.Count);
        output.WriteLine("randomised: " + string.Join("; ", real.RandomisedInitializers));
        int same = real.Images.Count(x => Predicted(real.Trained, x) == Predicted(real.Randomised, x));
        output.WriteLine($"top-1 agreement trained vs randomised: {same}/{real.Images.Count}");
        Assert.True(same <= 3, $"{same} of {real.Images.Count} predictions unchanged");
    }

    [RealGradientsFact]
    public void Model_randomisation_destroys_the_GradCam_map_while_reruns_agree()
    {
        var gradCam = new GradCam();
        var smooth = new SmoothGradCamPlusPlus();
        // Smooth Grad-CAM++ with 8 samples (instead of 25) keeps the run short.
        var eight = new Dictionary<string, double> { ["samples"] = 8 };
        var vsRandom = new List<double>();
        var rerun = new List<double>();
        var seeds = new List<double>();
        foreach (var x in real.Images)
        {
            int cls = Predicted(real.Trained, x);
            var trained = gradCam.Explain(real.Trained, x, Request(cls, 1), CancellationToken.None);
            var again = gradCam.Explain(real.Trained, x, Request(cls, 2), CancellationToken.None);
            // The randomised model explains the same class, so only the weights differ.
            var randomised = gradCam.Explain(real.Randomised, x, Request(cls, 1), CancellationToken.None);
            vsRandom.Add(Reference.Spearman(trained.Values, randomised.Values));
            rerun.Add(Reference.Spearman(trained.Values, again.Values));
            var s1 = smooth.Explain(real.Trained, x, Request(cls, 1, eight), CancellationToken.None);
            var s2 = smooth.Explain(real.Trained, x, Request(cls, 2, eight), CancellationToken.None);
            seeds.Add(Reference.Spearman(s1.Values, s2.Values));
        }
        double meanRandom = vsRandom.Average(), meanRerun = rerun.Average(), meanSeeds = seeds.Average();
        output.WriteLine($"Spearman over {real.Images.Count} images: Grad-CAM trained vs randomised {meanRandom:F3} " +
                         $"(min {vsRandom.Min():F3}, max {vsRandom.Max():F3}); Grad-CAM twice {meanRerun:F3}; " +
                         $"Smooth Grad-CAM++ seed 1 vs 2 {meanSeeds:F3} (min {seeds.Min():F3})");
        Assert.Equal(1.0, meanRerun, 6);
        Assert.True(meanSeeds > 0.8, $"two seeds of Smooth Grad-CAM++ agree only {meanSeeds:F3}");
        Assert.True(meanRandom < 0.5, $"trained vs randomised Grad-CAM still correlate {meanRandom:F3}");
        Assert.True(meanSeeds - meanRandom > 0.4);
    }

    public static TheoryData<string> Ids => ExplainerContractTests.Ids;

    /// <summary>Reduced settings for the faithfulness test (defaults: 25 samples, all channels, 300 iterations).</summary>
    private static Dictionary<string, double> FastSettings(string id) => id switch
    {
        "smoothgradcampp" => new() { ["samples"] = 8 },
        "scorecam" => new() { ["channels"] = 64 },
        "bbmp" => new() { ["iterations"] = 100 },
        _ => [],
    };

    [RealGradientsTheory]
    [MemberData(nameof(Ids))]
    public void Deleting_pixels_in_map_order_drops_the_probability_faster_than_random_order(string id)
    {
        var explainer = ExplainerContractTests.Create(id);
        var settings = FastSettings(id);
        var mapAucs = new List<double>();
        var randomAucs = new List<double>();
        var timer = new Stopwatch();
        int index = 0;
        foreach (var x in real.Images)
        {
            timer.Start();
            var map = explainer.Explain(real.Trained, x, Request(null, 1, settings), CancellationToken.None);
            timer.Stop();
            var blurred = Deletion.Blur(x, sigma: 5);
            var rng = new Random(100 + index++);
            mapAucs.Add(Deletion.Auc(real.Trained, x, blurred, map.ClassIndex, Deletion.OrderByMap(map.Values, rng)));
            randomAucs.Add(Deletion.Auc(real.Trained, x, blurred, map.ClassIndex, Deletion.RandomOrder(map.Values.Length, rng)));
        }
        double mapMean = mapAucs.Average(), randomMean = randomAucs.Average();
        int wins = mapAucs.Zip(randomAucs, (m, r) => m < r ? 1 : 0).Sum();
        output.WriteLine($"{id} ({string.Join(", ", settings.Select(s => $"{s.Key}={s.Value}"))}): deletion AUC map {mapMean:F4} vs random {randomMean:F4}; " +
                         $"map lower on {wins}/{mapAucs.Count} images; {timer.Elapsed.TotalMilliseconds / real.Images.Count:F1} ms per explanation");
        Assert.True(mapMean < randomMean, $"{id}: deletion AUC in map order {mapMean:F4} is not below random order {randomMean:F4}");
    }
}

/// <summary>The deletion metric, written for the tests.</summary>
public static class Deletion
{
    public const int Steps = 10;

    /// <summary>
    /// Replaces the first k·P/10 pixels of <paramref name="order"/> (all channels) by the blurred image for k = 0..10,
    /// reads the class probability of each (one batch), and integrates it with the trapezoid rule over [0, 1].
    /// Lower is more faithful: the map found the pixels the model needs.
    /// </summary>
    public static double Auc(IClassifier model, FloatTensor image, float[] blurred, int cls, int[] order)
    {
        int plane = order.Length, per = image.Data.Length;
        var batch = new FloatTensor([Steps + 1, 3, image.Shape[2], image.Shape[3]], new float[(Steps + 1) * per]);
        for (int s = 0; s <= Steps; s++)
        {
            var item = batch.Item(s);
            image.Data.CopyTo(item);
            int deleted = (int)Math.Round((double)s * plane / Steps);
            for (int i = 0; i < deleted; i++)
                for (int c = 0; c < 3; c++) item[c * plane + order[i]] = blurred[c * plane + order[i]];
        }
        var probs = model.PredictProbabilities(batch);
        double auc = 0;
        for (int s = 0; s < Steps; s++) auc += (probs.Item(s)[cls] + probs.Item(s + 1)[cls]) / 2.0 / Steps;
        return auc;
    }

    /// <summary>Pixels by decreasing saliency; ties (e.g. the zero region after ReLU) in random order, not scan order.</summary>
    public static int[] OrderByMap(float[] map, Random rng)
    {
        var tieBreak = Enumerable.Range(0, map.Length).Select(_ => rng.Next()).ToArray();
        return Enumerable.Range(0, map.Length).OrderByDescending(i => map[i]).ThenBy(i => tieBreak[i]).ToArray();
    }

    public static int[] RandomOrder(int n, Random rng)
    {
        var order = Enumerable.Range(0, n).ToArray();
        rng.Shuffle(order);
        return order;
    }

    /// <summary>Gaussian blur per channel with clamped borders (an implementation separate from the plugin's).</summary>
    public static float[] Blur(FloatTensor image, double sigma)
    {
        int h = image.Shape[2], w = image.Shape[3], r = (int)Math.Ceiling(3 * sigma);
        var k = Enumerable.Range(-r, 2 * r + 1).Select(i => Math.Exp(-i * i / (2 * sigma * sigma))).ToArray();
        double ks = k.Sum();
        var result = new float[image.Data.Length];
        var tmp = new double[h * w];
        for (int c = 0; c < 3; c++)
        {
            int o = c * h * w;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    double acc = 0;
                    for (int i = -r; i <= r; i++) acc += k[i + r] * image.Data[o + y * w + Math.Clamp(x + i, 0, w - 1)];
                    tmp[y * w + x] = acc / ks;
                }
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    double acc = 0;
                    for (int i = -r; i <= r; i++) acc += k[i + r] * tmp[Math.Clamp(y + i, 0, h - 1) * w + x];
                    result[o + y * w + x] = (float)(acc / ks);
                }
        }
        return result;
    }
}
