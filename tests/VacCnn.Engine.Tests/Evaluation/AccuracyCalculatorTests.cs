using VacCnn.Engine.Evaluation;

namespace VacCnn.Engine.Tests.Evaluation;

public class AccuracyCalculatorTests
{
    [Fact]
    public void Hand_computed_three_class_example()
    {
        // 4 images, 3 classes. Row 0: label 0, argmax 0 (correct). Row 1: label 1, argmax 2 (wrong).
        // Row 2: label 2, argmax 2 (correct). Row 3: label 1, argmax 1 (correct). Top-1 = 3/4.
        float[] p =
        [
            0.7f, 0.2f, 0.1f,
            0.3f, 0.1f, 0.6f,
            0.1f, 0.2f, 0.7f,
            0.2f, 0.5f, 0.3f,
        ];
        var rows = AccuracyCalculator.Compute(p, [0, 1, 2, 1], 3, null);
        var overall = rows.Single(r => r.Scope == "overall");
        Assert.Equal(0.75, overall.Top1, 6);
        Assert.Equal(1.0, overall.Top5, 6); // with 3 classes every label is in the top 5
        var leaf = rows.Where(r => r.Scope == "leaf").ToDictionary(r => r.Key);
        Assert.Equal(1.0, leaf["0"].Top1, 6);
        Assert.Equal(0.5, leaf["1"].Top1, 6);
        Assert.Equal(2, leaf["1"].Count);
        Assert.Equal(1.0, leaf["2"].Top1, 6);
    }

    [Fact]
    public void Agrees_with_an_independent_count_on_random_data()
    {
        const int n = 500, classes = 40;
        var rng = new Random(7);
        var p = new float[n * classes];
        var labels = new int[n];
        for (int i = 0; i < n; i++)
        {
            labels[i] = rng.Next(classes);
            float sum = 0;
            for (int c = 0; c < classes; c++) sum += p[i * classes + c] = (float)rng.NextDouble() + (c == labels[i] ? 0.6f : 0);
            for (int c = 0; c < classes; c++) p[i * classes + c] /= sum;
        }
        int top1 = 0, top5 = 0;
        var perClass = new int[classes];
        var perClassCorrect = new int[classes];
        for (int i = 0; i < n; i++)
        {
            var row = p.Skip(i * classes).Take(classes).ToArray();
            var order = Enumerable.Range(0, classes).OrderByDescending(c => row[c]).ToArray();
            if (order[0] == labels[i]) { top1++; perClassCorrect[labels[i]]++; }
            if (order.Take(5).Contains(labels[i])) top5++;
            perClass[labels[i]]++;
        }
        var rows = AccuracyCalculator.Compute(p, labels, classes, null);
        var overall = rows.Single(r => r.Scope == "overall");
        Assert.InRange(top1 / (double)n, 0.2, 0.9); // the data is neither trivial nor hopeless
        Assert.Equal(top1 / (double)n, overall.Top1, 9);
        Assert.Equal(top5 / (double)n, overall.Top5, 9);
        foreach (var leaf in rows.Where(r => r.Scope == "leaf"))
        {
            int c = int.Parse(leaf.Key, System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(perClass[c], leaf.Count);
            Assert.Equal(perClassCorrect[c] / (double)perClass[c], leaf.Top1, 9);
        }
    }

    [Fact]
    public void TopK_orders_by_value_and_breaks_ties_by_index()
    {
        Assert.Equal(new[] { 3, 1, 2 }, AccuracyCalculator.TopK([0.1f, 0.5f, 0.5f, 0.9f, 0.0f], 3));
        Assert.Equal(new[] { 0, 1 }, AccuracyCalculator.TopK([1f, 1f, 1f], 2));
    }
}
