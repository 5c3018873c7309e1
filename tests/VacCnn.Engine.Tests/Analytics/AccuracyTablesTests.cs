using VacCnn.Engine.Analytics;
using VacCnn.Engine.Evaluation;
using VacCnn.Engine.Store;

namespace VacCnn.Engine.Tests.Analytics;

/// <summary>Accuracy tables and the cross-model pickers on hand-made data with hand-derived answers.</summary>
public class AccuracyTablesTests
{
    private static ModelAccuracy Model(string id, params (int Class, double Top1)[] classes) =>
        ModelAccuracy.FromRows(id, "run-" + id,
            [new AccuracyRow(AccuracyCalculator.Overall, "all", 10, 0.5, 0.9), .. classes.Select(c => new AccuracyRow(AccuracyCalculator.Leaf, c.Class.ToString(), 4, c.Top1, 1))]);

    // Accuracies (a, b, c) per class, and the hand-derived statistics:
    //   class: 0: (1, 0, .5)  range 1, sd .408   mean .5
    //          1: (1, 0, 0)   range 1, sd .471   mean .333
    //          2: (.75,.75,.75) range 0          mean .75
    //          3: (1, 1, 1)   range 0            mean 1
    //          4: (.25,.5,.25) range .25         mean .333
    //          5: (0, 0, 0)   range 0            mean 0
    //          6: (.5, 1, 0)  range 1, sd .408   mean .5
    //          7: (.5,.5,.75) range .25          mean .583
    //          8: only in model a (not shared)
    private static readonly ModelAccuracy[] Three =
    [
        Model("a", (0, 1), (1, 1), (2, .75), (3, 1), (4, .25), (5, 0), (6, .5), (7, .5), (8, 1)),
        Model("b", (0, 0), (1, 0), (2, .75), (3, 1), (4, .5), (5, 0), (6, 1), (7, .5)),
        Model("c", (0, .5), (1, 0), (2, .75), (3, 1), (4, .25), (5, 0), (6, 0), (7, .75)),
    ];

    [Fact]
    public void Range_picks_the_most_diverging_and_most_parallel_classes_by_the_documented_rule()
    {
        var picked = ClassComparison.Range(Three);
        // Diverging: range 1 for classes 0, 1, 6; class 1 has the largest sd, then 0 and 6 tie on sd → lower index.
        Assert.Equal([(1, "diverging"), (0, "diverging"), (6, "diverging"), (3, "parallel"), (2, "parallel"), (5, "parallel")],
            picked.Select(c => (c.Index, c.Kind)));
        // Parallel: range 0 for 2, 3, 5 → higher mean first: 3 (1.0), 2 (.75), 5 (0).
        Assert.Equal(1.0, picked[0].Range);
        Assert.Equal(1 / 3.0, picked[0].Mean, 12);
        Assert.Equal(Math.Sqrt(2 / 9.0), picked[0].StdDev, 12);
        Assert.Equal(new Dictionary<string, double> { ["a"] = 1, ["b"] = 0, ["c"] = 0 }, picked[0].Accuracies);
        Assert.DoesNotContain(picked, c => c.Index == 8);
    }

    [Fact]
    public void Average_picks_the_highest_and_lowest_mean_accuracy_by_the_documented_rule()
    {
        var picked = ClassComparison.Average(Three);
        // Highest: 3 (1.0), 2 (.75), 7 (.583). Lowest: 5 (0), then 1 and 4 tie at .333 → smaller range first: 4 (.25) before 1 (1).
        Assert.Equal([(3, "highest"), (2, "highest"), (7, "highest"), (5, "lowest"), (4, "lowest"), (1, "lowest")],
            picked.Select(c => (c.Index, c.Kind)));
        Assert.Equal(7 / 12.0, picked[2].Mean, 12);
    }

    [Fact]
    public void Few_shared_classes_are_not_picked_twice()
    {
        var two = new[] { Model("a", (0, 1), (1, 0)), Model("b", (0, 0), (1, 0)) };
        Assert.Equal([(0, "diverging"), (1, "diverging")], ClassComparison.Range(two).Select(c => (c.Index, c.Kind)));
        Assert.Equal([(0, "highest"), (1, "highest")], ClassComparison.Average(two).Select(c => (c.Index, c.Kind)));
        Assert.Empty(ClassComparison.Range([]));
        Assert.Throws<ArgumentException>(() => ClassComparison.Range([two[0], two[0]]));
    }

    [Fact]
    public void Per_class_table_is_sorted_by_top1_descending_then_class_index()
    {
        var m = Three[0];
        Assert.Equal([0, 1, 3, 8, 2, 6, 7, 4, 5], m.PerClass.Select(c => c.Index));
        Assert.Equal(0.75, m.ForClass(2)!.Top1);
        Assert.Null(m.ForClass(9));
        Assert.Equal(10, m.Overall.Images);
    }

    [Fact]
    public void Agreement_counts_only_images_both_models_evaluated()
    {
        var a = new Top1ByImage([0, 1, 2, 3, 5], [7, 7, 1, 2, 9]);
        var b = new Top1ByImage([1, 2, 3, 4, 5], [7, 3, 2, 2, 9]);   // shared images 1, 2, 3, 5; agree on 1, 3, 5
        var c = new Top1ByImage([10, 11], [0, 0]);                   // no image in common with a or b
        var (share, common) = ModelAgreement.Compute([a, b, c]);
        Assert.Equal(0.75, share[0][1]);
        Assert.Equal(share[0][1], share[1][0]);
        Assert.Equal(4, common[0][1]);
        Assert.Equal(1, share[2][2]);
        Assert.Equal(2, common[2][2]);
        Assert.True(double.IsNaN(share[0][2]));
        Assert.Equal(0, common[1][2]);
    }
}
