namespace VacCnn.Web.Api;

/// <summary>
/// 202 Accepted for one explanation (explanation, map, PNG, NumPy and histogram endpoints): "queued" or "running",
/// progress 0..1, and when to ask again.
/// </summary>
public sealed record WorkInProgress(string Status, double Progress, int RetryAfterMs, string Model, string Image, string Method);
