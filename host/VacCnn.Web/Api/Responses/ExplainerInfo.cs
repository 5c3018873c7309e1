using VacCnn.Contracts;

namespace VacCnn.Web.Api;

/// <summary>An explanation method (GET /api/explainers).</summary>
public sealed record ExplainerInfo(string Id, string DisplayName, string Description, IReadOnlyList<SettingInfo> Settings);
