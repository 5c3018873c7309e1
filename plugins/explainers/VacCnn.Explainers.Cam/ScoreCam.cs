using VacCnn.Contracts;
using VacCnn.Explainers.Shared;

namespace VacCnn.Explainers.Cam;

/// <summary>
/// Score-CAM (Wang et al., CVPRW 2020), gradient-free. For each channel k of the layer: upsample A_k to the crop
/// (bilinear), min-max normalise it to a mask M_k in [0, 1], and score the masked input x·M_k + b·(1 − M_k) with the
/// model's softmax probability of the class. The baseline b is 0 in the normalised input space, i.e. the dataset
/// mean colour, so x·M_k is what the authors' code feeds the model. Channels whose map is constant are skipped
/// (weight 0), as in that code.
/// <para>
/// Weights: the raw class probability of each masked input, as in the authors' released code. The paper writes
/// softmax over k of the increase over a baseline image, but increases of probabilities lie in [−1, 1], so that
/// softmax is nearly uniform over hundreds of channels and washes the map out.
/// </para>
/// map = ReLU(Σ_k w_k A_k) at the layer's resolution, then upsampled. The masked inputs are scored in batches.
/// <c>channels</c> &gt; 0 keeps only the N channels with the largest spatial variance of activation (Faster
/// Score-CAM, Wang et al. 2020); 0 uses all.
/// </summary>
public sealed class ScoreCam : IExplainer
{
    /// <inheritdoc />
    public string Id => "scorecam";

    /// <inheritdoc />
    public string DisplayName => "Score-CAM";

    /// <inheritdoc />
    public string Description =>
        "Weights each feature map by the class probability the model still gives when it sees only the image parts that map covers (no gradients); costs one forward pass per feature-map channel (hundreds, or the 'channels' you keep).";

    /// <inheritdoc />
    public IReadOnlyList<SettingInfo> Settings { get; } =
    [
        new("channels", "Use only this many feature maps, the most varied ones (faster); 0 uses all of them.", 0, 0, 8192),
        new("batch", "How many masked images go through the model at once (speed and memory only, not the result).", 32, 1, 256),
    ];

    /// <inheritdoc />
    public SaliencyMap Explain(IClassifier model, FloatTensor image, ExplanationRequest request, CancellationToken cancellationToken)
    {
        var (height, width, settings, explainable, layer) = ExplainerSupport.PrepareCam(this, model, image, request);
        int keep = settings.Int("channels"), batch = settings.Int("batch");
        // One pass gives the activations and the scores, hence the class (unless named) and its probability.
        var (_, activations, cls, probability) = ExplainerSupport.ForwardForClass(model, explainable, image, request.ClassIndex, layer.Name);
        var (k, lh, lw) = CamMath.LayerShape(activations, layer.Name);
        int hw = lh * lw, plane = height * width;
        var a = activations.Item(0).ToArray();
        var channels = CamMath.SelectChannels(a, k, hw, keep);

        var up = new Bilinear(lh, lw, height, width, alignCorners: false);
        var weights = new double[k];
        var x = image.Data;
        // Masks and masked images are made batch by batch, straight into the batch tensor: all at once would take
        // K × 3 × H × W floats (≈ 750 MB for 1280 channels at 224²). Each masked image is x·M + 0·(1 − M): the
        // baseline is the mean colour (0 after normalisation).
        var masked = new FloatTensor([batch, 3, height, width], new float[batch * x.Length]);
        var pending = new List<int>(batch);
        var mask = new float[plane];
        foreach (int c in channels)
        {
            cancellationToken.ThrowIfCancellationRequested();
            up.Resize(a.AsSpan(c * hw, hw), mask);
            var (min, max) = Vectors.MinMax(mask);
            if (!(max > min)) continue; // constant map: nothing to mask with, weight stays 0
            Vectors.Affine(mask, 1 / (max - min), -min / (max - min)); // M = (m − min) / (max − min)
            var item = masked.Item(pending.Count);
            for (int ch = 0; ch < 3; ch++) Vectors.Multiply(x.AsSpan(ch * plane, plane), mask, item.Slice(ch * plane, plane));
            pending.Add(c);
            if (pending.Count == batch) ScoreBatch();
        }
        if (pending.Count > 0) ScoreBatch();

        void ScoreBatch()
        {
            int n = pending.Count;
            var input = n == batch ? masked : new FloatTensor([n, 3, height, width], masked.Data[..(n * x.Length)]);
            var probs = model.PredictProbabilities(input);
            for (int i = 0; i < n; i++) weights[pending[i]] = probs.Item(i)[cls];
            pending.Clear();
        }

        var map = CamMath.WeightedSumRelu(a, weights, hw);
        return CamMath.Finish(map, lh, lw, height, width, cls, probability, layer.Name);
    }
}
