using MathNet.Numerics.LinearAlgebra;
using VacCnn.Contracts;
using VacCnn.Explainers.Shared;

namespace VacCnn.Explainers.Cam;

/// <summary>
/// Eigen-CAM (Muhammad &amp; Yeasin, IJCNN 2020), gradient-free and class-agnostic: the activations as a matrix X
/// [positions, channels], centred per channel (as pytorch-grad-cam does), projected on their first principal
/// component v; map = ReLU(X·v). The sign of a principal component is arbitrary (SVD libraries differ), so v is
/// oriented to correlate positively with the total activation per position (Σ_k A_k): the map then lights up where
/// the layer responds most, rather than flipping with the linear-algebra library.
/// </summary>
public sealed class EigenCam : IExplainer
{
    /// <inheritdoc />
    public string Id => "eigencam";

    /// <inheritdoc />
    public ExplainerCost Cost => ExplainerCost.Cheap;

    /// <inheritdoc />
    public string DisplayName => "Eigen-CAM";

    /// <inheritdoc />
    public string Description =>
        "Shows the main pattern of the chosen layer's feature maps (their first principal component), whatever the class: no gradients, so it also works where gradients are noisy; costs one forward pass.";

    /// <inheritdoc />
    public IReadOnlyList<SettingInfo> Settings { get; } = [];

    /// <inheritdoc />
    public SaliencyMap Explain(IClassifier model, FloatTensor image, ExplanationRequest request, CancellationToken cancellationToken)
    {
        var (height, width, _, explainable, layer) = ExplainerSupport.PrepareCam(this, model, image, request);
        cancellationToken.ThrowIfCancellationRequested();

        var (_, activations, cls, probability) = ExplainerSupport.ForwardForClass(model, explainable, image, request.ClassIndex, layer.Name);
        var (k, lh, lw) = CamMath.LayerShape(activations, layer.Name);
        var map = FirstComponentMap(activations.Item(0), k, lh * lw);
        return CamMath.Finish(map, lh, lw, height, width, cls, probability, layer.Name);
    }

    /// <summary>
    /// ReLU of the projection of one image's centred activations (<paramref name="a"/>: [K, hw], channel-major) on
    /// their first principal component, at the layer's resolution (public so that it can be checked on hand-built
    /// activations).
    /// </summary>
    public static float[] FirstComponentMap(ReadOnlySpan<float> a, int k, int hw)
    {
        var x = Matrix<double>.Build.Dense(hw, k);
        for (int c = 0; c < k; c++)
        {
            double mean = 0;
            for (int i = 0; i < hw; i++) mean += a[c * hw + i];
            mean /= hw;
            for (int i = 0; i < hw; i++) x[i, c] = a[c * hw + i] - mean;
        }
        // X·v = σ·u: the top eigenvector of the smaller of XᵀX (K×K) and XXᵀ (hw×hw) gives the projection up to a
        // positive factor, which the min-max normalisation removes.
        Vector<double> projection;
        if (k <= hw)
        {
            var evd = x.TransposeThisAndMultiply(x).Evd(Symmetricity.Symmetric);
            projection = x * evd.EigenVectors.Column(TopIndex(evd.EigenValues));
        }
        else
        {
            var evd = x.TransposeAndMultiply(x).Evd(Symmetricity.Symmetric);
            projection = evd.EigenVectors.Column(TopIndex(evd.EigenValues));
        }
        double orientation = 0;
        for (int i = 0; i < hw; i++)
        {
            double total = 0;
            for (int c = 0; c < k; c++) total += a[c * hw + i];
            orientation += projection[i] * total;
        }
        var map = new float[hw];
        for (int i = 0; i < hw; i++) map[i] = (float)Math.Max(orientation < 0 ? -projection[i] : projection[i], 0);
        return map;
    }

    private static int TopIndex(Vector<System.Numerics.Complex> values)
    {
        int best = 0;
        for (int i = 1; i < values.Count; i++) if (values[i].Real > values[best].Real) best = i;
        return best;
    }
}
