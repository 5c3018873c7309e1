namespace VacCnn.Web.Api;

/// <summary>One step of the randomisation check: <see cref="Layers"/> top layers shuffled.</summary>
public sealed record RandomisationLevelInfo(int Layers, double? Spearman, bool Done, string PngUrl, string MapUrl);
