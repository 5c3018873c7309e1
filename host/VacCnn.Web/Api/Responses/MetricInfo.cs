namespace VacCnn.Web.Api;

/// <summary>A similarity metric (GET /api/metrics).</summary>
public sealed record MetricInfo(string Id, string DisplayName, string Description);
