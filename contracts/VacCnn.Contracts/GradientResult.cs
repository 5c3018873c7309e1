namespace VacCnn.Contracts;

/// <summary>What one backward pass returns.</summary>
public sealed record GradientResult
{
    /// <summary>The tensors of one pass.</summary>
    /// <param name="scores">[N, ClassCount] raw model outputs (logits when the model emits logits).</param>
    /// <param name="activations">[N, C, H, W] activations at the layer.</param>
    /// <param name="layerGradient">[N, C, H, W] gradient of Σ seed·scores with respect to the activations.</param>
    /// <param name="inputGradient">[N, 3, H, W] gradient with respect to the input, when asked for.</param>
    /// <param name="classes">Per image, the class that was differentiated, when a <see cref="GradientTarget"/> chose it.</param>
    public GradientResult(FloatTensor scores, FloatTensor activations, FloatTensor layerGradient, FloatTensor? inputGradient,
        int[]? classes = null)
    {
        Scores = scores;
        Activations = activations;
        LayerGradient = layerGradient;
        InputGradient = inputGradient;
        Classes = classes;
    }

    /// <summary>[N, ClassCount] raw model outputs (logits when the model emits logits).</summary>
    public FloatTensor Scores { get; init; }

    /// <summary>[N, C, H, W] activations at the layer.</summary>
    public FloatTensor Activations { get; init; }

    /// <summary>[N, C, H, W] gradient of Σ seed·scores with respect to the activations.</summary>
    public FloatTensor LayerGradient { get; init; }

    /// <summary>[N, 3, H, W] gradient with respect to the input, when asked for.</summary>
    public FloatTensor? InputGradient { get; init; }

    /// <summary>Per image, the class that was differentiated, when a <see cref="GradientTarget"/> chose it.</summary>
    public int[]? Classes { get; init; }
}
