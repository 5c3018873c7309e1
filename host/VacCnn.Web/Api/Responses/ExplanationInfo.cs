using VacCnn.Engine.Evaluation;
using VacCnn.Engine.Explanations;

namespace VacCnn.Web.Api;

/// <summary>
/// A finished explanation (GET /api/explanations, status "done"): the class explained, the prediction, the ground
/// truth when known, where the model's crop lies in the image, the deletion/insertion quality and the URLs of the map
/// as JSON, PNG and NumPy file, and which worker computed it ("machine · pid N"; null for maps stored before 2.1).
/// </summary>
public sealed record ExplanationInfo(
    string Status, string Model, string Image, string Method,
    int ClassIndex, string ClassName, float Probability,
    int PredictedIndex, string PredictedName, float PredictedProbability,
    int? GroundTruthIndex, string? GroundTruthName,
    string? Layer, int Width, int Height, long Millis, int Seed, CropRect Crop,
    double? Deletion, double? Insertion, ExplanationQuality? Quality,
    string Key, string MapUrl, string PngUrl, string NpyUrl, string? ComputedBy);
