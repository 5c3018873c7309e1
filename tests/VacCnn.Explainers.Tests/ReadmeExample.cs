using VacCnn.Contracts;

namespace MyLab.Explainers;

public sealed class GradientMagnitude : IExplainer
{
    public string Id => "gradient";
    public string DisplayName => "Gradient magnitude";
    public string Description => "How strongly each pixel changes the class score; costs one forward and one backward pass.";
    public IReadOnlyList<SettingInfo> Settings => [];

    public SaliencyMap Explain(IClassifier model, FloatTensor image, ExplanationRequest request, CancellationToken cancellationToken)
    {
        var grads = model.Explainable ?? throw new NotSupportedException($"model {model.Card.Id} provides no gradients");
        var probs = model.PredictProbabilities(image).Data;
        int cls = request.ClassIndex ?? Array.IndexOf(probs, probs.Max());
        var seed = FloatTensor.Zeros(1, model.Card.ClassCount);
        seed.Data[cls] = 1;                                    // differentiate the score of this class only
        var g = grads.Backward(image, seed, request.Layer ?? grads.DefaultLayer, withInputGradient: true).InputGradient!;
        int h = image.Shape[2], w = image.Shape[3], plane = h * w;
        var map = new float[plane];
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < plane; p++) map[p] = Math.Max(map[p], Math.Abs(g.Data[c * plane + p]));
        float max = map.Max();
        if (max > 0) for (int p = 0; p < plane; p++) map[p] /= max;   // values in [0, 1]
        return new SaliencyMap(w, h, map, cls, probs[cls], layer: null);
    }
}
