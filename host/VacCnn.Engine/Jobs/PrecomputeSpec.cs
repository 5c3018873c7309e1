namespace VacCnn.Engine.Jobs;

/// <summary>
/// What a precompute batch explains: every image of the image set, or those of some classes, or some images, with
/// every model × method listed. Each image is explained for its labelled class (as the Compare page asks for it),
/// unlabelled ones for the model's prediction.
/// </summary>
public sealed class PrecomputeSpec
{
    /// <summary>Model ids (at least one).</summary>
    public List<string> Models { get; set; } = [];
    /// <summary>Explainer ids (at least one).</summary>
    public List<string> Methods { get; set; } = [];
    /// <summary>Only the images of these classes; empty = no class filter.</summary>
    public List<int> Classes { get; set; } = [];
    /// <summary>Only these image ids; empty = no image filter (with no filter at all: every image).</summary>
    public List<string> Images { get; set; } = [];
    /// <summary>Seed of stochastic methods.</summary>
    public int Seed { get; set; }

    /// <summary>One line for the dashboard and the Admin page.</summary>
    public override string ToString() =>
        $"{string.Join(",", Methods)} × {string.Join(",", Models)} × " +
        (Images.Count > 0 ? $"{Images.Count} image(s)" : Classes.Count > 0 ? $"classes {string.Join(",", Classes)}" : "every image");
}
