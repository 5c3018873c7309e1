using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using VacCnn.Contracts;

namespace VacCnn.Engine.Tests.Evaluation;

/// <summary>
/// Independent reference for <see cref="Engine.Evaluation.ImagePreprocessor"/>, written from the torchvision recipe
/// with ImageSharp only: decode, convert to RGB (alpha dropped), Resize(R) = shorter side to R and longer side
/// <c>int(R · long / short)</c> with a bilinear (triangle) filter, CenterCrop with <c>round((size − crop) / 2)</c>
/// offsets, then per-channel <c>(x − mean) / std</c>, NCHW.
/// </summary>
internal static class ReferencePreprocessor
{
    public static float[] Preprocess(string path, PreprocessingSpec spec)
    {
        using var image = Image.Load<Rgb24>(path);
        int w = image.Width, h = image.Height, r = spec.ResizeShorterSide;
        (int nw, int nh) = w <= h ? (r, (int)((long)r * h / w)) : ((int)((long)r * w / h), r);
        image.Mutate(x => x.Resize(new ResizeOptions { Size = new Size(nw, nh), Sampler = KnownResamplers.Triangle, Mode = ResizeMode.Stretch }));

        int cw = spec.CropWidth, ch = spec.CropHeight;
        int left = (int)Math.Round((nw - cw) / 2.0, MidpointRounding.ToEven);
        int top = (int)Math.Round((nh - ch) / 2.0, MidpointRounding.ToEven);
        var result = new float[3 * ch * cw];
        image.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < ch; y++)
            {
                var row = rows.GetRowSpan(top + y);
                for (int x = 0; x < cw; x++)
                {
                    var p = row[left + x];
                    Span<float> rgb = [p.R, p.G, p.B];
                    for (int c = 0; c < 3; c++)
                    {
                        float v = spec.Channels == ChannelOrder.Rgb ? rgb[c] : rgb[2 - c];
                        result[(c * ch + y) * cw + x] = (v - spec.Mean[c]) / spec.Std[c];
                    }
                }
            }
        });
        return result;
    }
}
