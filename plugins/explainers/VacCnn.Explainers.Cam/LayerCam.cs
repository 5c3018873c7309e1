namespace VacCnn.Explainers.Cam;

/// <summary>LayerCAM (Jiang et al., IEEE TIP 2021): map = ReLU(Σ_k ReLU(g_k) ⊙ A_k), a per-position weight from the positive gradient; works at shallow layers too.</summary>
public sealed class LayerCam : GradientCamExplainer
{
    /// <inheritdoc />
    public override string Id => "layercam";

    /// <inheritdoc />
    public override string DisplayName => "LayerCAM";

    /// <inheritdoc />
    public override string Description =>
        "Keeps only the positive gradient at each position of each feature map as that position's weight, which also gives sharp maps at earlier, finer layers; costs one forward and one backward pass.";

    /// <inheritdoc />
    protected override float[] LayerMap(ReadOnlySpan<float> a, ReadOnlySpan<float> g, int k, int hw) => CamMath.LayerCamMap(a, g, k, hw);
}
