namespace VacCnn.Web.Api;

/// <summary>A stored upload (POST /api/images): 201 when new, 200 when the same bytes were uploaded before.</summary>
public sealed record UploadInfo(string Id, string Format, int Width, int Height, long Bytes, bool Existing, string Url, string ThumbUrl);
