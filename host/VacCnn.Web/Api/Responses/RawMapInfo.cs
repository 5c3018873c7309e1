namespace VacCnn.Web.Api;

/// <summary>A saliency map at the image's resolution (GET /api/explanations/map): encoding "u8", value = byte / 255,
/// row-major, top row first, base64 in <see cref="Data"/>.</summary>
public sealed record RawMapInfo(int Width, int Height, string Encoding, string Data, int ClassIndex, float Probability, string? Layer);
