using Microsoft.ML;
using Microsoft.ML.Data;
using VacCnn.Engine.Data;
using VacCnn.Engine.Store;

namespace VacCnn.Engine.Evaluation;

/// <summary>
/// Top-1 / top-5 accuracy overall, per root class and per leaf class, from a confidence matrix, using ML.NET's
/// multiclass evaluator (micro accuracy, top-k accuracy and the confusion matrix's per-class recall).
/// </summary>
public static class AccuracyCalculator
{
    private sealed class Row
    {
        public uint Label { get; set; }
        public float[] Score { get; set; } = [];
        public uint PredictedLabel { get; set; }
    }

    /// <summary>Scope names used in <see cref="AccuracyRow.Scope"/>.</summary>
    public const string Overall = "overall", Root = "root", Leaf = "leaf";

    /// <summary>
    /// Computes the accuracy rows: one "overall" row (key "all"), one per root class that has images, one per leaf
    /// class (key = class index) that has images.
    /// </summary>
    /// <param name="probabilities">[rows, classCount] row-major.</param>
    /// <param name="labels">Ground-truth class index per row.</param>
    /// <param name="classCount">Number of classes.</param>
    /// <param name="classes">ImageNet classes, for the root of each label; null skips the per-root rows.</param>
    public static IReadOnlyList<AccuracyRow> Compute(float[] probabilities, int[] labels, int classCount, ImageNetClasses? classes)
    {
        int n = labels.Length;
        if (probabilities.Length != (long)n * classCount) throw new ArgumentException("matrix and labels disagree");
        var result = new List<AccuracyRow>();
        if (n == 0) return [new AccuracyRow(Overall, "all", 0, 0, 0)];

        var ml = new MLContext(seed: 0);
        var all = Evaluate(ml, probabilities, labels, classCount, Enumerable.Range(0, n).ToArray());
        result.Add(new AccuracyRow(Overall, "all", n, all.MicroAccuracy, all.TopKAccuracy));

        if (classes != null)
        {
            foreach (var group in Enumerable.Range(0, n).GroupBy(i => classes.Classes[labels[i]].Root)
                         .OrderBy(g => RootClasses.Names.ToList().IndexOf(g.Key)))
            {
                var rows = group.ToArray();
                var m = Evaluate(ml, probabilities, labels, classCount, rows);
                result.Add(new AccuracyRow(Root, group.Key, rows.Length, m.MicroAccuracy, m.TopKAccuracy));
            }
        }

        // Per leaf: top-1 is the confusion matrix's per-class recall; top-5 needs per-row membership, counted here.
        var recall = all.ConfusionMatrix.PerClassRecall;
        var perClassCount = new int[classCount];
        var perClassTop5 = new int[classCount];
        for (int i = 0; i < n; i++)
        {
            perClassCount[labels[i]]++;
            if (InTopK(probabilities.AsSpan(i * classCount, classCount), labels[i], 5)) perClassTop5[labels[i]]++;
        }
        for (int c = 0; c < classCount; c++)
            if (perClassCount[c] > 0)
                result.Add(new AccuracyRow(Leaf, c.ToString(System.Globalization.CultureInfo.InvariantCulture), perClassCount[c],
                    c < recall.Count ? recall[c] : 0, (double)perClassTop5[c] / perClassCount[c]));
        return result;
    }

    private static MulticlassClassificationMetrics Evaluate(MLContext ml, float[] probabilities, int[] labels, int classCount, int[] rows)
    {
        var data = rows.Select(i =>
        {
            var score = probabilities.AsSpan(i * classCount, classCount).ToArray();
            return new Row { Label = (uint)labels[i], Score = score, PredictedLabel = (uint)Numerics.Scores.ArgMax(score) };
        });
        var schema = SchemaDefinition.Create(typeof(Row));
        schema[nameof(Row.Label)].ColumnType = new KeyDataViewType(typeof(uint), classCount);
        schema[nameof(Row.PredictedLabel)].ColumnType = new KeyDataViewType(typeof(uint), classCount);
        schema[nameof(Row.Score)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, classCount);
        var view = ml.Data.LoadFromEnumerable(data, schema);
        return ml.MulticlassClassification.Evaluate(view, nameof(Row.Label), nameof(Row.Score), nameof(Row.PredictedLabel),
            topKPredictionCount: Math.Min(5, classCount));
    }


    /// <summary>Indices of the k largest values, largest first (ties: lower index first).</summary>
    public static int[] TopK(ReadOnlySpan<float> v, int k)
    {
        k = Math.Min(k, v.Length);
        var idx = new int[k];
        var val = new float[k];
        int filled = 0;
        for (int i = 0; i < v.Length; i++)
        {
            float x = v[i];
            if (filled == k && !(x > val[k - 1])) continue;
            int pos = filled < k ? filled++ : k - 1;
            while (pos > 0 && x > val[pos - 1]) { val[pos] = val[pos - 1]; idx[pos] = idx[pos - 1]; pos--; }
            val[pos] = x; idx[pos] = i;
        }
        return idx;
    }

    private static bool InTopK(ReadOnlySpan<float> v, int label, int k)
    {
        // Same rule as ML.NET's top-k: the label is in the top k when fewer than k scores are strictly greater.
        float s = v[label];
        int greater = 0;
        foreach (float x in v) if (x > s && ++greater >= k) return false;
        return true;
    }
}
