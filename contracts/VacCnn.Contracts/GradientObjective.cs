namespace VacCnn.Contracts;

/// <summary>What a targeted backward pass differentiates for the chosen class c of each image.</summary>
public enum GradientObjective
{
    /// <summary>The raw score s_c (the logit, for models that emit logits).</summary>
    Score,

    /// <summary>softmax(s)_c: the class probability of a model that emits logits (seed p_c·(onehot_c − p)).</summary>
    SoftmaxOfScores,
}
