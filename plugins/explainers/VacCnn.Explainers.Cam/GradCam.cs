namespace VacCnn.Explainers.Cam;

/// <summary>Grad-CAM (Selvaraju et al., ICCV 2017): map = ReLU(Σ_k w_k A_k) with w_k = mean of dScore/dA_k.</summary>
public sealed class GradCam : GradientCamExplainer
{
    /// <inheritdoc />
    public override string Id => "gradcam";

    /// <inheritdoc />
    public override string DisplayName => "Grad-CAM";

    /// <inheritdoc />
    public override string Description =>
        "Highlights the regions whose features at the chosen layer push the class score up (feature maps weighted by their average gradient); costs one forward and one backward pass.";

    /// <inheritdoc />
    protected override float[] LayerMap(ReadOnlySpan<float> a, ReadOnlySpan<float> g, int k, int hw) =>
        CamMath.WeightedSumRelu(a, CamMath.GradCamWeights(g, k, hw), hw);
}

/// <summary>Grad-CAM++ (Chattopadhay et al., WACV 2018), exp(score) closed form as in the authors' code.</summary>
public sealed class GradCamPlusPlus : GradientCamExplainer
{
    /// <inheritdoc />
    public override string Id => "gradcampp";

    /// <inheritdoc />
    public override string DisplayName => "Grad-CAM++";

    /// <inheritdoc />
    public override string Description =>
        "Like Grad-CAM, but weights every position of each feature map by higher-order gradient terms, which covers several copies of an object better; costs one forward and one backward pass.";

    /// <inheritdoc />
    protected override float[] LayerMap(ReadOnlySpan<float> a, ReadOnlySpan<float> g, int k, int hw) =>
        CamMath.WeightedSumRelu(a, CamMath.GradCamPlusPlusWeights(a, g, k, hw), hw);
}
