using VacCnn.Contracts;
using VacCnn.Explainers.Attribution;
using VacCnn.Explainers.Cam;
using VacCnn.Explainers.Perturbation;

namespace VacCnn.Explainers.Tests;

/// <summary>What every explainer promises: map shape and range, class and probability, errors, settings, seeds.</summary>
public sealed class ExplainerContractTests
{
    public static TheoryData<string> Ids => new() { "gradcam", "gradcampp", "smoothgradcampp", "scorecam", "bbmp", "hirescam", "xgradcam", "layercam", "eigencam", "ablationcam",
        "gradinput", "smoothgrad", "integratedgradients" };

    /// <summary>Methods that work on the input, not on a layer: their maps name no layer.</summary>
    public static readonly string[] InputLevel = ["bbmp", "gradinput", "smoothgrad", "integratedgradients"];

    public static IExplainer Create(string id) => id switch
    {
        "gradcam" => new GradCam(),
        "gradcampp" => new GradCamPlusPlus(),
        "smoothgradcampp" => new SmoothGradCamPlusPlus(),
        "scorecam" => new ScoreCam(),
        "bbmp" => new MeaningfulPerturbation(),
        "hirescam" => new HiResCam(),
        "xgradcam" => new XGradCam(),
        "layercam" => new LayerCam(),
        "eigencam" => new EigenCam(),
        "ablationcam" => new AblationCam(),
        "gradinput" => new GradientTimesInput(),
        "smoothgrad" => new SmoothGrad(),
        "integratedgradients" => new IntegratedGradients(),
        _ => throw new ArgumentException(id),
    };

    // Small settings keep the toy runs quick; they are within every explainer's bounds.
    private static Dictionary<string, double> Quick(string id) => id switch
    {
        "smoothgradcampp" => new() { ["samples"] = 4 },
        "bbmp" => new() { ["iterations"] = 20 },
        "smoothgrad" => new() { ["samples"] = 4 },
        "integratedgradients" => new() { ["steps"] = 4 },
        _ => [],
    };

    [Theory]
    [MemberData(nameof(Ids))]
    public void Map_is_at_crop_resolution_in_0_1_and_names_the_predicted_class(string id)
    {
        var m = new LinearToyModel();
        var x = m.RandomImage(21);
        var probs = m.PredictProbabilities(x).Data;
        int predicted = Array.IndexOf(probs, probs.Max());

        var map = Create(id).Explain(m, x, new ExplanationRequest(null, null, 1, Quick(id)), CancellationToken.None);
        Assert.Equal(m.Size, map.Width);
        Assert.Equal(m.Size, map.Height);
        Assert.Equal(m.Size * m.Size, map.Values.Length);
        Assert.All(map.Values, v => Assert.InRange(v, 0f, 1f));
        Assert.Equal(1f, map.Values.Max(), 5);
        Assert.Equal(0f, map.Values.Min(), 5);
        Assert.Equal(predicted, map.ClassIndex);
        Assert.Equal(probs[predicted], map.Probability, 5);
        Assert.Equal(InputLevel.Contains(id) ? null : LinearToyModel.LayerName, map.Layer);
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void A_requested_class_is_explained_with_its_probability(string id)
    {
        var m = new LinearToyModel();
        var x = m.RandomImage(22);
        var probs = m.PredictProbabilities(x).Data;
        int least = Array.IndexOf(probs, probs.Min());
        var map = Create(id).Explain(m, x, new ExplanationRequest(least, null, 1, Quick(id)), CancellationToken.None);
        Assert.Equal(least, map.ClassIndex);
        Assert.Equal(probs[least], map.Probability, 5);
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void A_model_without_gradients_gets_a_clear_error(string id)
    {
        var m = new LinearToyModel(gradients: false);
        var ex = Assert.Throws<NotSupportedException>(() =>
            Create(id).Explain(m, m.RandomImage(1), new ExplanationRequest(null, null, 1, Quick(id)), CancellationToken.None));
        Assert.Equal("model toy provides no gradients", ex.Message);
    }

    [Theory]
    [InlineData("gradcam")]
    [InlineData("gradcampp")]
    [InlineData("smoothgradcampp")]
    [InlineData("scorecam")]
    [InlineData("ablationcam")]
    public void An_unknown_layer_is_rejected_with_the_candidates_listed(string id)
    {
        var m = new LinearToyModel();
        var ex = Assert.Throws<ArgumentException>(() =>
            Create(id).Explain(m, m.RandomImage(1), new ExplanationRequest(null, "conv99", 1, Quick(id)), CancellationToken.None));
        Assert.Contains("'conv99'", ex.Message);
        Assert.Contains(LinearToyModel.LayerName, ex.Message);
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void A_wrongly_shaped_image_is_rejected(string id)
    {
        var m = new LinearToyModel();
        var ex = Assert.Throws<ArgumentException>(() =>
            Create(id).Explain(m, FloatTensor.Zeros(1, 3, 8, 8), new ExplanationRequest(null, null, 1, Quick(id)), CancellationToken.None));
        Assert.Contains("[1,3,16,16]", ex.Message);
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void Settings_outside_their_bounds_are_rejected_naming_the_setting(string id)
    {
        var e = Create(id);
        var m = new LinearToyModel();
        foreach (var s in e.Settings)
        {
            Assert.InRange(s.Default, s.Min, s.Max);
            Assert.False(string.IsNullOrWhiteSpace(s.Description));
            foreach (double bad in new[] { s.Min - 1, s.Max + 1, double.NaN })
            {
                var ex = Assert.Throws<ArgumentOutOfRangeException>(() =>
                    e.Explain(m, m.RandomImage(1), new ExplanationRequest(null, null, 1, new Dictionary<string, double> { [s.Name] = bad }), CancellationToken.None));
                Assert.Equal(s.Name, ex.ParamName);
            }
        }
        var unknown = Assert.Throws<ArgumentException>(() =>
            e.Explain(m, m.RandomImage(1), new ExplanationRequest(null, null, 1, new Dictionary<string, double> { ["bogus"] = 1 }), CancellationToken.None));
        Assert.Contains("'bogus'", unknown.Message);
    }

    [Fact]
    public void Whole_number_settings_reject_fractions()
    {
        var m = new LinearToyModel();
        var ex = Assert.Throws<ArgumentException>(() => new SmoothGradCamPlusPlus().Explain(m, m.RandomImage(1),
            new ExplanationRequest(null, null, 1, new Dictionary<string, double> { ["samples"] = 2.5 }), CancellationToken.None));
        Assert.Equal("samples", ex.ParamName);
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void The_same_seed_gives_the_same_map(string id)
    {
        var m = new LinearToyModel();
        var x = m.RandomImage(23);
        var a = Create(id).Explain(m, x, new ExplanationRequest(null, null, 9, Quick(id)), CancellationToken.None);
        var b = Create(id).Explain(m, x, new ExplanationRequest(null, null, 9, Quick(id)), CancellationToken.None);
        Assert.Equal(a.Values, b.Values);
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void A_cancelled_token_stops_the_explainer(string id)
    {
        var m = new LinearToyModel();
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() =>
            Create(id).Explain(m, m.RandomImage(1), new ExplanationRequest(null, null, 1, Quick(id)), cts.Token));
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void Descriptions_say_what_it_costs(string id)
    {
        var e = Create(id);
        Assert.Equal(id, e.Id);
        Assert.Contains("pass", e.Description);
        Assert.False(string.IsNullOrWhiteSpace(e.DisplayName));
    }
}
