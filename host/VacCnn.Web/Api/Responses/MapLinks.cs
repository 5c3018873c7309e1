namespace VacCnn.Web.Api;

/// <summary>Where a map is served as a picture and as JSON.</summary>
public sealed record MapLinks(string PngUrl, string MapUrl);
