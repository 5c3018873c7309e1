namespace VacCnn.Web.Api;

/// <summary>An image of the image set (GET /api/images).</summary>
public sealed record ImageInfo(string Id, string File, string Wnid, int ClassIndex, string ClassName, int Width, int Height,
    string Url, string ThumbUrl);
