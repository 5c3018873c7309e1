using VacCnn.Engine.Explanations;

namespace VacCnn.Web.Api;

/// <summary>Methods ranked by faithfulness (GET /api/ranking): 200 "done", or 202 "running" with the ranks so far.</summary>
public sealed record RankingInfo(string Status, IReadOnlyList<MethodScore> Methods, double Progress, int? RetryAfterMs = null);
