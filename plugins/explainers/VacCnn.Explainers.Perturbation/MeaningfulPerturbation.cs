using VacCnn.Contracts;
using VacCnn.Explainers.Shared;

namespace VacCnn.Explainers.Perturbation;

/// <summary>
/// Meaningful perturbation (Fong &amp; Vedaldi, ICCV 2017, "Interpretable Explanations of Black Boxes by Meaningful
/// Perturbation"), following its common PyTorch implementation: a low-resolution mask m (28×28) in [0, 1], upsampled
/// bilinearly (corners aligned, as UpsamplingBilinear2d) to M, mixes the image x with a blurred copy b:
/// x' = x·M + b·(1 − M) + noise. Adam minimises
/// <c>l1·mean|1 − m| + tv·TV(m, β) + p_class(x')</c> from m = 1 (nothing deleted), clamping m to [0, 1] after each
/// step. The saliency is 1 − M: where deleting (blurring) the image destroys the class probability.
/// <para>
/// Choices: b is a Gaussian blur (σ = <c>blur</c> pixels of the crop, 10 as in the paper, reflected borders) of the
/// input tensor, which equals blurring the pixels because the normalisation is per-channel affine. The noise is
/// Gaussian with σ = <c>noise</c> in input-tensor units (as the PyTorch code adds it to the normalised tensor), drawn
/// from a generator seeded with the request's seed. p is the softmax probability (the model's output when it emits
/// probabilities). The gradient with respect to x' comes from the model's targeted backward pass
/// (<see cref="GradientObjective.SoftmaxOfScores"/>: seed dp_c/dscores = p_c(onehot_c − p), computed inside the run);
/// it is chained through the mixing and the upsampling here. Each iteration costs one forward and backward run.
/// </para>
/// </summary>
public sealed class MeaningfulPerturbation : IExplainer
{
    /// <inheritdoc />
    public string Id => "bbmp";

    /// <inheritdoc />
    public string DisplayName => "Meaningful perturbation";

    /// <inheritdoc />
    public string Description =>
        "Learns the smallest, smoothest region whose blurring destroys the model's confidence in the class; costs one forward and one backward pass per optimisation step (300 by default), so it is slow.";

    /// <inheritdoc />
    public IReadOnlyList<SettingInfo> Settings { get; } =
    [
        new("iterations", "Optimisation steps: more steps give a more settled mask but take proportionally longer.", 300, 1, 5000),
        new("lr", "Learning rate of the Adam optimiser: how far the mask moves per step.", 0.1, 1e-4, 1),
        new("l1", "Penalty on the deleted area: larger values give smaller highlighted regions.", 0.01, 0, 10),
        new("tv", "Penalty on ragged masks (total variation): larger values give smoother, blobbier regions.", 0.2, 0, 10),
        new("beta", "Exponent of the total-variation penalty: larger values tolerate small wiggles but punish sharp jumps.", 3, 1, 10),
        new("noise", "Random noise added to the perturbed image at each step, so the mask does not exploit tiny artefacts (0 = none).", 0.2, 0, 2),
        new("mask", "Side of the square mask being optimised, in cells: smaller is coarser and steadier.", 28, 2, 512),
        new("blur", "Blur strength (Gaussian σ in pixels of the model's input) of the image used to 'delete' regions.", 10, 0.5, 100),
    ];

    /// <inheritdoc />
    public SaliencyMap Explain(IClassifier model, FloatTensor image, ExplanationRequest request, CancellationToken cancellationToken)
    {
        var (height, width) = ExplainerSupport.CheckImage(model, image);
        var s = ExplainerSupport.ResolveSettings(Id, Settings, request);
        int iterations = s.Int("iterations"), side = s.Int("mask");
        double lr = s["lr"], l1 = s["l1"], tv = s["tv"], beta = s["beta"], noiseSigma = s["noise"];
        var explainable = ExplainerSupport.RequireGradients(model);
        // Backward needs a layer although only the input gradient is used here.
        string layer = explainable.DefaultLayer;
        var (cls, probability) = ExplainerSupport.ChooseClass(model, image, request.ClassIndex);
        // The probability: softmax of the scores for a model that emits logits, the score itself otherwise.
        var target = GradientTarget.ForAll(1, cls, model.Card.OutputKind == OutputKind.Logits ? GradientObjective.SoftmaxOfScores : GradientObjective.Score);

        int plane = height * width;
        var x = image.Data;
        var blurred = GaussianBlur.Apply(x, 3, height, width, s["blur"]);
        var diff = new float[x.Length];
        for (int i = 0; i < x.Length; i++) diff[i] = x[i] - blurred[i];

        var up = new Bilinear(side, side, height, width, alignCorners: true);
        int cells = side * side;
        var m = Enumerable.Repeat(1f, cells).ToArray();
        var adamM = new double[cells];
        var adamV = new double[cells];
        const double Beta1 = 0.9, Beta2 = 0.999, Eps = 1e-8;
        var rng = new GaussianSource(request.Seed);
        var perturbed = new FloatTensor([1, 3, height, width], new float[x.Length]);
        var upMask = new float[plane];
        var product = new float[plane];

        for (int t = 1; t <= iterations; t++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            up.Resize(m, upMask);
            // x' = b + (x − b)·M + noise
            if (noiseSigma > 0) rng.Fill(perturbed.Data, noiseSigma);
            else Array.Clear(perturbed.Data);
            for (int ch = 0; ch < 3; ch++)
            {
                var o = perturbed.Data.AsSpan(ch * plane, plane);
                Vectors.Multiply(diff.AsSpan(ch * plane, plane), upMask, product);
                Vectors.Blend(o, 1, product, 1, o);
                Vectors.Blend(o, 1, blurred.AsSpan(ch * plane, plane), 1, o);
            }

            // d p_class / d x' in one targeted run: the model computes p from its own scores and seeds the backward pass.
            var r = explainable.Backward(perturbed, target, layer, withInputGradient: true);
            var gx = r.InputGradient ?? throw new InvalidOperationException($"model {model.Card.Id} returned no input gradient");

            // dx'/dM = x − b on every channel; then back through the upsampling to the mask cells.
            var gUp = new float[plane];
            for (int ch = 0; ch < 3; ch++)
            {
                Vectors.Multiply(gx.Data.AsSpan(ch * plane, plane), diff.AsSpan(ch * plane, plane), product);
                Vectors.Blend(gUp, 1, product, 1, gUp);
            }
            var g = up.Adjoint(gUp);
            var grad = new double[cells];
            for (int i = 0; i < cells; i++)
                grad[i] = g[i] - (m[i] < 1 ? l1 / cells : 0); // d mean|1 − m| / dm = −1/n for m < 1 (0 at m = 1, as torch's abs)
            AddTotalVariationGradient(m, side, tv, beta, grad);

            double c1 = 1 - Math.Pow(Beta1, t), c2 = 1 - Math.Pow(Beta2, t);
            for (int i = 0; i < cells; i++)
            {
                adamM[i] = Beta1 * adamM[i] + (1 - Beta1) * grad[i];
                adamV[i] = Beta2 * adamV[i] + (1 - Beta2) * grad[i] * grad[i];
                double step = lr * (adamM[i] / c1) / (Math.Sqrt(adamV[i] / c2) + Eps);
                m[i] = (float)Math.Clamp(m[i] - step, 0, 1);
            }
        }

        var final = up.Resize(m);
        for (int p = 0; p < plane; p++) final[p] = 1 - final[p];
        return ExplainerSupport.ToSaliencyMap(final, height, width, cls, probability, layer: null);
    }

    /// <summary>
    /// Gradient of tv·(mean over vertical neighbours of |Δ|^β + mean over horizontal neighbours of |Δ|^β), the
    /// tv_norm of the PyTorch implementation.
    /// </summary>
    private static void AddTotalVariationGradient(float[] m, int side, double tv, double beta, double[] grad)
    {
        if (tv == 0 || side < 2) return;
        double count = (side - 1) * side;
        for (int i = 0; i < side; i++)
            for (int j = 0; j < side; j++)
            {
                int here = i * side + j;
                if (i + 1 < side) Pair(here, here + side);
                if (j + 1 < side) Pair(here, here + 1);
            }

        void Pair(int a, int b)
        {
            double d = m[a] - m[b];
            if (d == 0) return;
            double g = tv * beta * Math.Pow(Math.Abs(d), beta - 1) * Math.Sign(d) / count;
            grad[a] += g;
            grad[b] -= g;
        }
    }
}
