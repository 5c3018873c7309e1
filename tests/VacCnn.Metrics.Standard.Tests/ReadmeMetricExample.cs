using VacCnn.Contracts;

public sealed class OverlapMetric : ISimilarityMetric
{
    public string Id => "overlap";
    public string DisplayName => "Salient-region overlap (IoU)";
    public string Description => "Share of pixels with saliency ≥ 0.5 in both maps among those ≥ 0.5 in either (intersection over union), 1 = same salient region.";

    public double Similarity(SaliencyMap a, SaliencyMap b)
    {
        if (a.Width != b.Width || a.Height != b.Height) throw new ArgumentException("maps must have the same size");
        int both = 0, either = 0;
        for (int i = 0; i < a.Values.Length; i++)
        {
            bool x = a.Values[i] >= 0.5f, y = b.Values[i] >= 0.5f;
            if (x && y) both++;
            if (x || y) either++;
        }
        return either == 0 ? 1 : (double)both / either;
    }
}
