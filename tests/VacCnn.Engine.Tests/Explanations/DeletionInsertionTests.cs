using VacCnn.Contracts;
using VacCnn.Engine.Evaluation;
using VacCnn.Engine.Explanations;
using VacCnn.Explainers.Shared;

namespace VacCnn.Engine.Tests.Explanations;

/// <summary>
/// Deletion and insertion AUC (RISE): hand-computed values on a toy model, a naive one-image-at-a-time reference on a
/// real model, and the faithfulness ordering a real Grad-CAM map must show against a random and an inverted map.
/// </summary>
public sealed class DeletionInsertionTests(ExplanationServiceTests.Fixture env) : IClassFixture<ExplanationServiceTests.Fixture>
{
    /// <summary>Two classes on a 2 × 2 crop: logit₀ = sum of every input value, logit₁ = 0, so p₀ = σ(Σx).</summary>
    private sealed class SumModel : IClassifier
    {
        public ModelCard Card { get; } = new("sum", "sum", "toy", 0, 0, 2, "toy",
            new PreprocessingSpec(2, 2, 2, ChannelOrder.Rgb, [30f, 60f, 90f], [10f, 20f, 30f]), OutputKind.Probabilities, null, null, null, []);
        public int Calls;
        public int MaxBatch;

        public FloatTensor PredictProbabilities(FloatTensor images)
        {
            Interlocked.Increment(ref Calls);
            int n = images.Shape[0], size = (int)(images.Length / n);
            MaxBatch = Math.Max(MaxBatch, n);
            var p = new float[2 * n];
            for (int b = 0; b < n; b++)
            {
                double s = 0;
                for (int i = 0; i < size; i++) s += images.Data[b * size + i];
                p[2 * b] = (float)(1 / (1 + Math.Exp(-s)));
                p[2 * b + 1] = 1 - p[2 * b];
            }
            return new FloatTensor([n, 2], p);
        }

        public IExplainableClassifier? Explainable => null;
        public void Dispose() { }
    }

    private static double Sigmoid(double s) => 1 / (1 + Math.Exp(-s));

    [Fact]
    public void Toy_curves_match_hand_computed_probabilities_with_ties_in_reading_order_and_black_as_minus_mean_over_std()
    {
        // Pixel sums over the three channels: 1, −2, 3, 0.5 (each channel holds a third), so Σx = 2.5.
        float[] v = [1f, -2f, 3f, 0.5f];
        var data = new float[12];
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 4; p++) data[c * 4 + p] = v[p] / 3;
        // Pixels 1 and 2 tie: reading order puts 1 first; then 0, then 3.
        float[] map = [0.2f, 0.9f, 0.9f, 0.1f];
        var model = new SumModel();
        var q = DeletionInsertion.Measure(model, new FloatTensor([1, 3, 2, 2], data), map, classIndex: 0, steps: 4);

        // Black is pixel 0 → (0 − mean)/std = −3 in every channel: a removed pixel adds −9 to the sum.
        double[] sums = [2.5, 2.5 + 2 - 9, 2.5 - 1 - 18, 2.5 - 2 - 27, 2.5 - 2.5 - 36];
        double[] expected = sums.Select(Sigmoid).ToArray();
        Assert.Equal(expected.Length, q.DeletionCurve.Length);
        for (int k = 0; k < expected.Length; k++) Assert.Equal(expected[k], q.DeletionCurve[k], 6);
        double area = (expected[0] / 2 + expected[1] + expected[2] + expected[3] + expected[4] / 2) / 4;
        Assert.Equal(area, q.Deletion, 6);

        // On a 2-pixel-wide crop the blur has σ = 10·2/224 ≈ 0.09 px: its neighbour weight e^(−62) vanishes in float,
        // so the insertion start is the image itself and the curve stays at σ(2.5).
        Assert.All(q.InsertionCurve, p => Assert.Equal(Sigmoid(2.5), p, 6));
        Assert.Equal(Sigmoid(2.5), q.Insertion, 6);
        Assert.Equal(4, q.Steps);
        // 2·4 + 1 = 9 images: one batch of at most 16.
        Assert.Equal(1, model.Calls);
        Assert.Equal(9, model.MaxBatch);
    }

    [Fact]
    public void Measuring_rejects_bad_arguments_with_clear_messages()
    {
        var model = new SumModel();
        var image = new FloatTensor([1, 3, 2, 2], new float[12]);
        Assert.Contains("steps", Assert.Throws<ArgumentOutOfRangeException>(() => DeletionInsertion.Measure(model, image, new float[4], 0, 0)).Message);
        Assert.Contains("5 values", Assert.Throws<ArgumentException>(() => DeletionInsertion.Measure(model, image, new float[5], 0, 4)).Message,
            StringComparison.Ordinal);
        Assert.Contains("class", Assert.Throws<ArgumentOutOfRangeException>(() => DeletionInsertion.Measure(model, image, new float[4], 2, 4)).Message);
        Assert.Contains("[1, 3, H, W]", Assert.Throws<ArgumentException>(() =>
            DeletionInsertion.Measure(model, new FloatTensor([2, 3, 2, 2], new float[24]), new float[4], 0, 4)).Message);
    }

    private (IClassifier Model, FloatTensor Image) SmallModelAndGoldfish()
    {
        var model = env.Env.Engine.Models.Find(ExplanationEnvironment.Small)!;
        var batch = new ImagePreprocessor(model.Card.Preprocessing).Preprocess([Path.Combine(env.Env.ImagesRoot, ExplanationEnvironment.Goldfish)]);
        return (model, batch.Tensor);
    }

    [Fact]
    public void Real_model_curves_equal_a_naive_one_image_at_a_time_reference()
    {
        var (model, image) = SmallModelAndGoldfish();
        int h = image.Shape[2], w = image.Shape[3], plane = h * w;
        // A map with many ties (8 levels), so the tie rule matters.
        var rng = new Random(5);
        var map = Enumerable.Range(0, plane).Select(_ => rng.Next(8) / 7f).ToArray();
        const int steps = 8, cls = 1;
        var q = DeletionInsertion.Measure(model, image, map, cls, steps);

        // Reference: rank by (−value, index) with a comparison sort, build each perturbed image on its own, one
        // forward pass per image.
        var order = Enumerable.Range(0, plane).ToArray();
        Array.Sort(order, (a, b) => map[a] != map[b] ? map[b].CompareTo(map[a]) : a.CompareTo(b));
        var spec = model.Card.Preprocessing;
        var blurred = GaussianBlur.Apply(image.Data, 3, h, w, 10.0 * w / 224);
        float Probability(float[] x) => model.PredictProbabilities(new FloatTensor([1, 3, h, w], x)).Data[cls];
        for (int k = 0; k <= steps; k++)
        {
            int taken = k * plane / steps;
            var deleted = (float[])image.Data.Clone();
            var inserted = (float[])blurred.Clone();
            for (int r = 0; r < taken; r++)
                for (int c = 0; c < 3; c++)
                {
                    int i = c * plane + order[r];
                    deleted[i] = (0 - spec.Mean[c]) / spec.Std[c];
                    inserted[i] = image.Data[i];
                }
            Assert.Equal(Probability(deleted), q.DeletionCurve[k], 5);
            Assert.Equal(Probability(inserted), q.InsertionCurve[k], 5);
        }
        double del = 0, ins = 0;
        for (int k = 0; k < steps; k++)
        {
            del += ((double)q.DeletionCurve[k] + q.DeletionCurve[k + 1]) / 2 / steps;
            ins += ((double)q.InsertionCurve[k] + q.InsertionCurve[k + 1]) / 2 / steps;
        }
        Assert.Equal(del, q.Deletion, 9);
        Assert.Equal(ins, q.Insertion, 9);
        // The ends: the untouched image, and an all-black one (deletion) / the blurred one (insertion).
        Assert.Equal(q.DeletionCurve[0], q.InsertionCurve[steps]);
    }

    [Fact]
    public async Task A_real_grad_cam_map_is_more_faithful_than_a_random_and_an_inverted_map_and_its_quality_is_cached_with_it()
    {
        var query = new ExplanationQuery(ExplanationEnvironment.Small, ExplanationEnvironment.Goldfish, "gradcam");
        var result = await ExplanationEnvironment.Done(env.Env.Service, query);
        var q = Assert.IsType<ExplanationQuality>(result.Quality);
        Assert.Equal(DeletionInsertion.DefaultSteps, q.Steps);
        Assert.Equal(result.Probability, q.DeletionCurve[0], 4); // the explained class's probability on the untouched crop

        var (model, image) = SmallModelAndGoldfish();
        int side = result.CropMap.Width;
        // Random maps as coarse as a CAM (16-pixel blocks: scattered single pixels would wreck any image at once), and
        // the Grad-CAM map turned upside down.
        var randoms = Enumerable.Range(0, 4).Select(seed =>
        {
            var rng = new Random(seed);
            var blocks = Enumerable.Range(0, (side / 16) * (side / 16)).Select(_ => (float)rng.NextDouble()).ToArray();
            var map = new float[side * side];
            for (int y = 0; y < side; y++)
                for (int x = 0; x < side; x++) map[y * side + x] = blocks[y / 16 * (side / 16) + x / 16];
            return DeletionInsertion.Measure(model, image, map, result.ClassIndex, q.Steps);
        }).ToList();
        double randomDeletion = randoms.Average(x => x.Deletion), randomInsertion = randoms.Average(x => x.Insertion);
        var inv = DeletionInsertion.Measure(model, image, result.CropMap.Values.Select(v => 1 - v).ToArray(), result.ClassIndex, q.Steps);
        Assert.True(q.Deletion < randomDeletion && randomDeletion < inv.Deletion,
            $"deletion AUC: grad-cam {q.Deletion:F4}, random {randomDeletion:F4}, inverted {inv.Deletion:F4}");
        Assert.True(q.Insertion > randomInsertion && randomInsertion > inv.Insertion,
            $"insertion AUC: grad-cam {q.Insertion:F4}, random {randomInsertion:F4}, inverted {inv.Insertion:F4}");

        // Stored with the map: a fresh service over the same data folder reads it back unchanged, computing nothing.
        var fresh = env.Env.NewService();
        var fromDisk = fresh.Request(query);
        Assert.Equal(OutcomeKind.Done, fromDisk.Kind);
        Assert.Equal(0, fresh.Runner.Computations);
        var stored = fromDisk.Result!.Quality!;
        Assert.Equal(q.Deletion, stored.Deletion);
        Assert.Equal(q.Insertion, stored.Insertion);
        Assert.Equal(q.DeletionCurve, stored.DeletionCurve);
        Assert.Equal(q.InsertionCurve, stored.InsertionCurve);
    }
}
