namespace VacCnn.Web.Api;

/// <summary>
/// The model-randomisation check (GET /api/randomisation): the trained map and one map per randomised depth with its
/// Spearman correlation to the trained one. 200 "done" adds the class, seed and verdict; 202 "queued"/"running" adds
/// progress and when to ask again.
/// </summary>
public sealed record RandomisationInfo(string Status, string Model, string Image, string Method, MapLinks Trained,
    IReadOnlyList<RandomisationLevelInfo> Levels, int? Seed = null, int? ClassIndex = null, string? ClassName = null,
    bool? Passed = null, double? PassBelow = null, double? Progress = null, int? RetryAfterMs = null);
