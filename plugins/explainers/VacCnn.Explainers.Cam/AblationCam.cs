using VacCnn.Contracts;
using VacCnn.Explainers.Shared;

namespace VacCnn.Explainers.Cam;

/// <summary>
/// Ablation-CAM (Desai &amp; Ramaswamy, WACV 2020), gradient-free: the weight of channel k is the relative drop of the
/// class score when that channel of the layer is set to zero and the network goes on from there,
/// w_k = (y_c − y_c^k) / y_c (y_c the raw score, the logit); map = ReLU(Σ_k w_k A_k), upsampled. The ablations are
/// rows of one <see cref="IExplainableClassifier.ScoresWithChannelsScaled"/> call per batch (a row of ones with a 0 at
/// k). <c>channels</c> &gt; 0 ablates only the N channels with the largest spatial variance, as Score-CAM's option does
/// (the others weigh 0). Where y_c is 0 the drop itself is the weight (the division only rescales, unless it flips
/// the sign).
/// </summary>
public sealed class AblationCam : IExplainer
{
    /// <inheritdoc />
    public string Id => "ablationcam";

    /// <inheritdoc />
    public string DisplayName => "Ablation-CAM";

    /// <inheritdoc />
    public string Description =>
        "Weights each feature map by how much the class score drops when that map is switched off (no gradients); costs one forward pass per feature-map channel (hundreds, or the 'channels' you keep).";

    /// <inheritdoc />
    public IReadOnlyList<SettingInfo> Settings { get; } =
    [
        new("channels", "Switch off only this many feature maps, the most varied ones (faster); 0 uses all of them.", 0, 0, 8192),
        new("batch", "How many ablated copies go through the model at once (speed and memory only, not the result).", 32, 1, 256),
    ];

    /// <inheritdoc />
    public SaliencyMap Explain(IClassifier model, FloatTensor image, ExplanationRequest request, CancellationToken cancellationToken)
    {
        var (height, width, settings, explainable, layer) = ExplainerSupport.PrepareCam(this, model, image, request);
        int keep = settings.Int("channels"), batch = settings.Int("batch");
        var (scores, activations, cls, probability) = ExplainerSupport.ForwardForClass(model, explainable, image, request.ClassIndex, layer.Name);
        var (k, lh, lw) = CamMath.LayerShape(activations, layer.Name);
        int hw = lh * lw;
        var a = activations.Item(0).ToArray();
        double y = scores.Item(0)[cls];
        var channels = CamMath.SelectChannels(a, k, hw, keep);

        var weights = new double[k];
        for (int start = 0; start < channels.Length; start += batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int n = Math.Min(batch, channels.Length - start);
            var scales = new FloatTensor([n, k], new float[n * k]);
            Array.Fill(scales.Data, 1f);
            for (int i = 0; i < n; i++) scales.Data[i * k + channels[start + i]] = 0;
            var ablated = explainable.ScoresWithChannelsScaled(image, layer.Name, scales);
            for (int i = 0; i < n; i++)
            {
                double drop = y - ablated.Item(i)[cls];
                weights[channels[start + i]] = y == 0 ? drop : drop / y;
            }
        }
        var map = CamMath.WeightedSumRelu(a, weights, hw);
        return CamMath.Finish(map, lh, lw, height, width, cls, probability, layer.Name);
    }
}
