using VacCnn.Contracts;
using VacCnn.Engine.Evaluation;

namespace VacCnn.Engine.Explanations;

/// <summary>
/// What a <see cref="GradientTarget"/> means, computed on the host side (the contracts only describe it): which class
/// each image resolves to and the seed gradient of the raw scores. A model that has no one-run targeted backward pass
/// can use <see cref="ForwardThenSeededBackward"/>; the ONNX plugin builds the same seed inside its graph.
/// </summary>
public static class GradientTargets
{
    /// <summary>The class each image resolves to, given its raw scores ([N, classes]): the named one, or the first maximum.</summary>
    public static int[] Resolve(GradientTarget target, FloatTensor scores)
    {
        ArgumentNullException.ThrowIfNull(target);
        int n = scores.Shape[0], classes = (int)(scores.Length / n);
        if (target.Classes.Length != n) throw new ArgumentException($"target has {target.Classes.Length} classes for {n} images", nameof(scores));
        var resolved = new int[n];
        for (int i = 0; i < n; i++)
        {
            int c = target.Classes[i];
            if (c == GradientTarget.Predicted) c = Numerics.Scores.ArgMax(scores.Item(i));
            else if (c < 0 || c >= classes) throw new ArgumentOutOfRangeException(nameof(scores), c, $"class {c} is outside 0..{classes - 1}");
            resolved[i] = c;
        }
        return resolved;
    }

    /// <summary>The seed gradient ([N, classes]) of the raw scores for the resolved <paramref name="classes"/>.</summary>
    public static FloatTensor Seed(GradientTarget target, FloatTensor scores, int[] classes)
    {
        ArgumentNullException.ThrowIfNull(target);
        int n = scores.Shape[0], width = (int)(scores.Length / n);
        var seed = FloatTensor.Zeros(n, width);
        for (int i = 0; i < n; i++)
        {
            var row = seed.Item(i);
            int c = classes[i];
            if (target.Objective == GradientObjective.Score) { row[c] = 1; continue; }
            // d softmax_c / d s_j = p_c (δ_cj − p_j).
            Numerics.Scores.Softmax(scores.Item(i), row);
            float pc = row[c];
            for (int j = 0; j < width; j++) row[j] = pc * ((j == c ? 1 : 0) - row[j]);
        }
        return seed;
    }

    /// <summary>A targeted pass in two runs: <see cref="IExplainableClassifier.Forward"/> for the scores, then the seeded backward.</summary>
    public static GradientResult ForwardThenSeededBackward(IExplainableClassifier model, FloatTensor images, GradientTarget target,
        string layer, bool withInputGradient)
    {
        ArgumentNullException.ThrowIfNull(model);
        var (scores, _) = model.Forward(images, layer);
        var classes = Resolve(target, scores);
        return model.Backward(images, Seed(target, scores, classes), layer, withInputGradient) with { Classes = classes };
    }
}
