using VacCnn.Engine.Analytics;
using VacCnn.Engine.Store;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Analytics;

/// <summary>Algorithm 1 (class distance matrix) and the one-pass class sums it is built on.</summary>
public class ClassDistanceTests
{
    /// <summary>Random probability rows (each sums to 1) and labels that never use the classes in <paramref name="absent"/>.</summary>
    internal static (float[] P, int[] Labels) RandomMatrix(int m, int n, int seed, params int[] absent)
    {
        var rng = new Random(seed);
        var p = new float[m * n];
        var labels = new int[m];
        var allowed = Enumerable.Range(0, n).Except(absent).ToArray();
        for (int i = 0; i < m; i++)
        {
            labels[i] = allowed[rng.Next(allowed.Length)];
            double sum = 0;
            for (int j = 0; j < n; j++) { double v = Math.Exp(3 * rng.NextDouble()); p[i * n + j] = (float)v; sum += v; }
            for (int j = 0; j < n; j++) p[i * n + j] = (float)(p[i * n + j] / sum);
        }
        return (p, labels);
    }

    /// <summary>The paper's pseudo-code, line by line, in double precision; NaN rows/columns for classes without images.</summary>
    private static double[,] PaperAlgorithm1(float[] p, int[] y, int n)
    {
        int m = y.Length;
        var d = new double[n, n];
        for (int r = 0; r < n; r++)                       // for each class r
        {
            var images = new List<int>();                 //   I_r = images whose ground truth is r
            for (int i = 0; i < m; i++) if (y[i] == r) images.Add(i);
            for (int j = 0; j < n; j++)                   //   for each class j
            {
                if (images.Count == 0) { d[r, j] = double.NaN; continue; }
                if (j == r) { d[r, j] = 0; continue; }    //     D[r][r] = 0
                double s = 0;
                foreach (int i in images) s += 1 - p[i * n + j];  // Σ (1 − P[i][j])
                d[r, j] = s / images.Count;               //     D[r][j] = mean
            }
        }
        var sym = new double[n, n];                       // D = (D + Dᵀ) / 2
        for (int a = 0; a < n; a++) for (int b = 0; b < n; b++) sym[a, b] = (d[a, b] + d[b, a]) / 2;
        return sym;
    }

    private static void AssertMatchesPaper(ClassDistanceMatrix result, float[] p, int[] labels, int n, int[] absent)
    {
        var expected = PaperAlgorithm1(p, labels, n);
        Assert.Equal(absent.Order().ToArray(), result.Missing);
        Assert.Equal(Enumerable.Range(0, n).Except(absent).ToArray(), result.Classes);
        int k = result.Classes.Length;
        double worst = 0;
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
                worst = Math.Max(worst, Math.Abs(expected[result.Classes[a], result.Classes[b]] - result[a, b]));
        Assert.True(worst < 1e-5, $"largest difference from the paper's loop: {worst}");
    }

    [Fact]
    public void Matches_a_line_by_line_loop_of_the_papers_pseudo_code_on_random_data()
    {
        int[] absent = [3, 11, 16];
        var (p, labels) = RandomMatrix(400, 17, seed: 1, absent);
        AssertMatchesPaper(ClassDistance.Compute(p, labels, 17), p, labels, 17, absent);
    }

    [Fact]
    public void Streaming_from_the_stored_matrix_in_small_chunks_matches_the_paper_and_the_in_memory_pass()
    {
        int[] absent = [0, 40];
        int n = 70; // 1003 × 70 values: the in-memory pass runs its two partitions in parallel, the 37-row chunks do not

        var (p, labels) = RandomMatrix(1003, n, seed: 2, absent);
        using var dir = new TempDir();
        string path = dir.Combine("confidence.npy");
        Npy.WriteFile(path, p, labels.Length, n);
        var progress = new List<double>();
        // 37 rows per chunk: many chunk boundaries, a short last chunk, and the read-ahead buffer swap.
        var streamed = ClassSums.FromNpy(path, labels, progress.Add, chunkRows: 37);
        var inMemory = ClassSums.FromMatrix(p, labels, n);
        Assert.Equal(inMemory.ConfidenceSums, streamed.ConfidenceSums);
        Assert.Equal(inMemory.Top1Counts, streamed.Top1Counts);
        Assert.Equal(1003, streamed.Images);
        Assert.Equal(28, progress.Count);
        Assert.Equal(1.0, progress[^1]);
        AssertMatchesPaper(ClassDistance.FromSums(streamed), p, labels, n, absent);
        AssertMatchesPaper(ClassDistance.FromNpy(path, labels), p, labels, n, absent);
    }

    [Fact]
    public void Top1_counts_match_a_naive_argmax_loop_when_one_class_holds_most_images()
    {
        // The two cores split the rows by class at the median image; here class 5 holds 80 % of the images, so one side
        // gets nearly everything and the other a handful of classes. 2000 × 40 values: the pass runs in parallel.
        int n = 40;
        var (p, labels) = RandomMatrix(2000, n, seed: 3);
        var rng = new Random(4);
        for (int i = 0; i < labels.Length; i++) if (rng.NextDouble() < 0.8) labels[i] = 5;
        var sums = ClassSums.FromMatrix(p, labels, n);
        var expected = new int[n * n];
        for (int i = 0; i < labels.Length; i++)
        {
            int best = 0;
            for (int j = 1; j < n; j++) if (p[i * n + j] > p[i * n + best]) best = j;
            expected[labels[i] * n + best]++;
            Assert.Equal(best, sums.Top1[i]);
        }
        Assert.Equal(expected, sums.Top1Counts);
        Assert.Equal(labels.Count(l => l == 5), sums.ImagesPerClass[5]);
        int[] absent = Enumerable.Range(0, n).Where(c => !labels.Contains(c)).ToArray();
        AssertMatchesPaper(ClassDistance.FromSums(sums), p, labels, n, absent);
    }

    [Fact]
    public void Hand_computed_small_case()
    {
        // 4 classes, 4 images; class 3 has no image. Image 1 (class 0) is mistaken for class 1.
        float[] p =
        [
            0.7f, 0.2f, 0.1f, 0.0f,  // y = 0
            0.4f, 0.5f, 0.1f, 0.0f,  // y = 0
            0.1f, 0.6f, 0.3f, 0.0f,  // y = 1
            0.1f, 0.1f, 0.7f, 0.1f,  // y = 2
        ];
        int[] y = [0, 0, 1, 2];
        // One-sided: D[0,1] = mean(0.8, 0.5) = 0.65, D[0,2] = 0.9, D[1,0] = 0.9, D[1,2] = 0.7, D[2,0] = 0.9, D[2,1] = 0.9.
        // Symmetric: D01 = 0.775, D02 = 0.9, D12 = 0.8.
        var d = ClassDistance.Compute(p, y, 4);
        Assert.Equal([0, 1, 2], d.Classes);
        Assert.Equal([3], d.Missing);
        double[,] expected = { { 0, 0.775, 0.9 }, { 0.775, 0, 0.8 }, { 0.9, 0.8, 0 } };
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
                Assert.Equal(expected[a, b], d[a, b], 6);

        var sums = ClassSums.FromMatrix(p, y, 4);
        Assert.Equal([2, 1, 1, 0], sums.ImagesPerClass);
        Assert.Equal(1, sums.Top1Counts[0 * 4 + 0]);
        Assert.Equal(1, sums.Top1Counts[0 * 4 + 1]);
        // Class 0's confusions: class 1 (half its images, mean 0.35), then class 2 (mean 0.1), then class 3 (mean 0).
        var c = Confusions.Of(sums, 0, 3);
        Assert.Equal([1, 2, 3], c.Select(x => x.Index));
        Assert.Equal(0.5, c[0].Share, 9);
        Assert.Equal(0.35, c[0].MeanConfidence, 6);
        Assert.Equal(0.0, c[1].Share);
        Assert.Equal(0.1, c[1].MeanConfidence, 6);
        Assert.Empty(Confusions.Of(sums, 3, 3));
    }

    [Fact]
    public void Top1_ties_go_to_the_lowest_class_index_like_the_stored_predictions()
    {
        float[] p = [0.25f, 0.25f, 0.25f, 0.25f, 0.1f, 0.4f, 0.4f, 0.1f];
        var sums = ClassSums.FromMatrix(p, [2, 2], 4);
        Assert.Equal(1, sums.Top1Counts[2 * 4 + 0]);
        Assert.Equal(1, sums.Top1Counts[2 * 4 + 1]);
        Assert.Equal(0, sums.Top1Counts[2 * 4 + 2]);
    }

    [Theory]
    [InlineData(1000, 517, 333)]   // equal maxima in different vector lanes: the first wins
    [InlineData(1000, 8, 16)]      // equal maxima in the same lane
    [InlineData(13, 12, 3)]        // maxima in the scalar tail and the vector part
    [InlineData(1003, 1001, 1002)] // both in the tail
    [InlineData(7, 6, 5)]          // no vector part at all
    public void Fused_add_and_argmax_returns_the_first_maximum_and_adds_every_value(int length, int at1, int at2)
    {
        var rng = new Random(length + at1);
        var row = Enumerable.Range(0, length).Select(_ => (float)rng.NextDouble()).ToArray();
        row[at1] = row[at2] = 2f;
        var acc = Enumerable.Range(0, length).Select(i => (float)i).ToArray();
        int got = ClassSums.AddAndArgMax(acc, row);
        Assert.Equal(Math.Min(at1, at2), got);
        for (int i = 0; i < length; i++) Assert.Equal(i + row[i], acc[i]);

        var nan = new float[length];
        Array.Fill(nan, float.NaN);
        nan[at2] = -1f;
        Assert.Equal(at2, ClassSums.AddAndArgMax(new float[length], nan));
    }

    [Fact]
    public void Bad_input_gives_clear_errors()
    {
        using var dir = new TempDir();
        var (p, labels) = RandomMatrix(10, 5, seed: 3);
        string path = dir.Combine("c.npy");
        Npy.WriteFile(path, p, 10, 5);
        Assert.Contains("10 rows but 9 labels", Assert.Throws<InvalidDataException>(() => ClassSums.FromNpy(path, labels[..9])).Message);
        labels[4] = 7;
        Assert.Contains("label 7 of row 4", Assert.Throws<InvalidDataException>(() => ClassSums.FromMatrix(p, labels, 5)).Message);
        labels[4] = 0;
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^8]);
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => ClassSums.FromNpy(path, labels)).Message);
        Npy.WriteFile(path, labels, 10);
        Assert.Contains("float32 expected", Assert.Throws<InvalidDataException>(() => ClassSums.FromNpy(path, labels)).Message);
    }
}
