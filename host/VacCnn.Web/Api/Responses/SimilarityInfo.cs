namespace VacCnn.Web.Api;

/// <summary>
/// The similarity matrix of the models' maps (GET /api/similarity): 200 "done" with <see cref="Matrix"/>; 202
/// "queued"/"running" with <see cref="Progress"/>, <see cref="RetryAfterMs"/> and the models whose maps are <see cref="Pending"/>.
/// </summary>
public sealed record SimilarityInfo(string Status, IReadOnlyList<string> Models, double[][]? Matrix, string? Metric = null,
    string? Method = null, string? Image = null, double? Progress = null, int? RetryAfterMs = null, IReadOnlyList<string>? Pending = null);
