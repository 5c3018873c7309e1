namespace VacCnn.Explainers.Cam;

/// <summary>HiResCAM (Draelos &amp; Carin 2020): map = ReLU(Σ_k g_k ⊙ A_k), the element-wise gradient × activation summed over channels; provably faithful to the score where Grad-CAM's averaging is not.</summary>
public sealed class HiResCam : GradientCamExplainer
{
    /// <inheritdoc />
    public override string Id => "hirescam";

    /// <inheritdoc />
    public override string DisplayName => "HiResCAM";

    /// <inheritdoc />
    public override string Description =>
        "Multiplies each feature map by its own gradient position by position instead of averaging the gradient first, so the map shows exactly which cells raise the class score; costs one forward and one backward pass.";

    /// <inheritdoc />
    protected override float[] LayerMap(ReadOnlySpan<float> a, ReadOnlySpan<float> g, int k, int hw) => CamMath.HiResCamMap(a, g, k, hw);
}
