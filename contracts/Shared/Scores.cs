namespace VacCnn.Numerics;

/// <summary>
/// The one argmax and the one softmax of VacCnn. Linked as source into the engine, the ONNX model plugin and the
/// explainer plugins (they share no assembly but the contracts, which hold no code), so every "predicted class" and
/// every probability in the system comes from these lines. Not part of the contracts' API.
/// </summary>
internal static class Scores
{
    /// <summary>Index of the first maximum; NaN is never the maximum, and 0 is returned when nothing is.</summary>
    public static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        float max = float.NegativeInfinity;
        bool found = false;
        for (int i = 0; i < v.Length; i++)
            if (v[i] > max || (!found && v[i] == max)) { max = v[i]; best = i; found = true; }
        return best;
    }

    /// <summary>
    /// Softmax of one row of raw scores into <paramref name="probabilities"/> (may be the same span: in place). Stable:
    /// the maximum is subtracted before exp; the exponentials are float (the arithmetic every stored confidence matrix
    /// was computed with, so results stay byte-identical) and summed in double.
    /// </summary>
    public static void Softmax(ReadOnlySpan<float> scores, Span<float> probabilities)
    {
        if (probabilities.Length != scores.Length)
            throw new ArgumentException($"{probabilities.Length} places for {scores.Length} scores", nameof(probabilities));
        if (scores.Length == 0) return;
        float max = float.NegativeInfinity;
        foreach (float s in scores) if (s > max) max = s;
        double sum = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            probabilities[i] = MathF.Exp(scores[i] - max);
            sum += probabilities[i];
        }
        float inv = (float)(1.0 / sum);
        for (int i = 0; i < probabilities.Length; i++) probabilities[i] *= inv;
    }
}
