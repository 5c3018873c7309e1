namespace VacCnn.Explainers.Cam;

/// <summary>XGrad-CAM (Fu et al., BMVC 2020): map = ReLU(Σ_k w_k A_k) with w_k = Σ_hw (A_k·g_k) / Σ_hw A_k, the activation-weighted mean gradient.</summary>
public sealed class XGradCam : GradientCamExplainer
{
    /// <inheritdoc />
    public override string Id => "xgradcam";

    /// <inheritdoc />
    public override string DisplayName => "XGrad-CAM";

    /// <inheritdoc />
    public override string Description =>
        "Like Grad-CAM, but weights each feature map by its gradient averaged where the map is active (weighted by the activation), which follows the class score more closely; costs one forward and one backward pass.";

    /// <inheritdoc />
    protected override float[] LayerMap(ReadOnlySpan<float> a, ReadOnlySpan<float> g, int k, int hw) => CamMath.WeightedSumRelu(a, CamMath.XGradCamWeights(a, g, k, hw), hw);
}
