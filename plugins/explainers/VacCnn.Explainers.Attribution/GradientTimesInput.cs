using VacCnn.Contracts;
using VacCnn.Explainers.Shared;

namespace VacCnn.Explainers.Attribution;

/// <summary>
/// Gradient × Input (Shrikumar et al., 2016): a = x ⊙ ∂S_c/∂x, where x is the model's input tensor (normalised, so
/// x = 0 is the dataset's mean colour) and S_c the raw score of the class (the logit). It is the first-order
/// Taylor estimate of what each input value contributes relative to the mean-colour image. Pixel resolution; the
/// positive part by default (see <see cref="InputAttribution.PositiveSetting"/>).
/// </summary>
public sealed class GradientTimesInput : IExplainer
{
    /// <inheritdoc />
    public string Id => "gradinput";

    /// <inheritdoc />
    public ExplainerCost Cost => ExplainerCost.Cheap;

    /// <inheritdoc />
    public string DisplayName => "Gradient × Input";

    /// <inheritdoc />
    public string Description =>
        "Multiplies each pixel by how sensitive the class score is to it: sharp, pixel-level and often noisy; costs one forward and one backward pass.";

    /// <inheritdoc />
    public IReadOnlyList<SettingInfo> Settings { get; } = [InputAttribution.PositiveSetting(1)];

    /// <inheritdoc />
    public SaliencyMap Explain(IClassifier model, FloatTensor image, ExplanationRequest request, CancellationToken cancellationToken)
    {
        var (height, width) = ExplainerSupport.CheckImage(model, image);
        var settings = ExplainerSupport.ResolveSettings(Id, Settings, request);
        var explainable = ExplainerSupport.RequireGradients(model);
        cancellationToken.ThrowIfCancellationRequested();
        var (r, cls, probability) = ExplainerSupport.BackwardForClass(model, explainable, image, request.ClassIndex, explainable.DefaultLayer, withInputGradient: true);
        var g = r.InputGradient ?? throw new InvalidOperationException("the model returned no input gradient although one was asked for");
        var a = new float[image.Data.Length];
        Vectors.Multiply(image.Data, g.Data, a);
        var map = InputAttribution.PixelMap(a, height * width, InputAttribution.Positive(settings));
        return ExplainerSupport.ToSaliencyMap(map, height, width, cls, probability, null);
    }
}
