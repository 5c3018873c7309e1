using System.Globalization;
using VacCnn.Engine.Explanations;

namespace VacCnn.Engine.Jobs;

/// <summary>
/// An explanation request as a job argument (plain properties, so that it serialises the same in every job storage).
/// The worker validates it again: the models and images it sees are its own.
/// </summary>
public sealed class ExplanationJobSpec
{
    /// <summary>Model id.</summary>
    public string Model { get; set; } = "";
    /// <summary>Image id.</summary>
    public string Image { get; set; } = "";
    /// <summary>Explainer id.</summary>
    public string Method { get; set; } = "";
    /// <summary>Class to explain; null = the prediction.</summary>
    public int? ClassIndex { get; set; }
    /// <summary>Layer; null = the model's default.</summary>
    public string? Layer { get; set; }
    /// <summary>Seed of stochastic methods.</summary>
    public int Seed { get; set; }
    /// <summary>Explainer settings as given (defaults filled in by the worker).</summary>
    public Dictionary<string, double>? Settings { get; set; }
    /// <summary>Top layers randomised (0 = the trained model).</summary>
    public int RandomisedLayers { get; set; }
    /// <summary>The cache key the requester computed (a worker whose inputs differ stores under its own key).</summary>
    public string Key { get; set; } = "";

    /// <summary>The spec of a validated target.</summary>
    public static ExplanationJobSpec Of(ExplanationTarget t) => new()
    {
        Model = t.What.Model.Card.Id,
        Image = t.ImageId,
        Method = t.What.Explainer.Id,
        ClassIndex = t.What.Request.ClassIndex,
        Layer = t.What.Request.Layer,
        Seed = t.What.Request.Seed,
        Settings = t.What.Request.Settings.Count == 0 ? null : new Dictionary<string, double>(t.What.Request.Settings, StringComparer.Ordinal),
        RandomisedLayers = t.What.RandomisedLayers,
        Key = t.Key,
    };

    /// <summary>Back to a query.</summary>
    public ExplanationQuery ToQuery() => new(Model, Image, Method, ClassIndex, Layer, Seed, Settings, RandomisedLayers);

    /// <summary>How the Hangfire dashboard names the job.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Method} · {Model} · {Image}{(ClassIndex is int c ? $" · class {c}" : "")}{(RandomisedLayers > 0 ? $" · {RandomisedLayers} layers randomised" : "")}");
}
