namespace VacCnn.Web.Api;

/// <summary>Colour intensities of the salient region (GET /api/histogram): per channel, <see cref="Bins"/> counts.</summary>
public sealed record HistogramInfo(int Bins, int[] R, int[] G, int[] B, int Pixels, double Threshold, string Model, string Image, string Method);
