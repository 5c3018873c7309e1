using System.Numerics.Tensors;
using VacCnn.Contracts;

namespace VacCnn.Engine.Evaluation;

/// <summary>
/// torchvision's <c>Resize(R)</c> + <c>CenterCrop</c> on decoded 8-bit pixels, with the antialiased bilinear
/// (triangle) filter of PIL: when shrinking, the filter support grows with the scale, so every source pixel
/// contributes. This is the resampling the accuracies in <c>PROVENANCE.md</c> were measured with; SkiaSharp's
/// "High" quality resize (ML.NET's <c>ResizeImages</c>) read 1.5–3 points higher on some badly calibrated models.
/// Only the crop is computed: columns and rows outside it are never resampled.
/// </summary>
internal static class TriangleResampler
{
    /// <summary>Resized size of a <paramref name="width"/> × <paramref name="height"/> image: shorter side R, longer
    /// side <c>int(R · long / short)</c>, as torchvision's <c>Resize(int)</c>.</summary>
    public static (int Width, int Height) ResizedSize(int width, int height, int r) =>
        width <= height ? (r, (int)((long)r * height / width)) : ((int)((long)r * width / height), r);

    /// <summary>Top-left corner of torchvision's CenterCrop in the resized image: <c>round((size − crop) / 2)</c>,
    /// half to even (Python's round).</summary>
    public static (int X, int Y) CropOffset(int resizedWidth, int resizedHeight, PreprocessingSpec spec) =>
        ((int)Math.Round((resizedWidth - spec.CropWidth) / 2.0, MidpointRounding.ToEven),
         (int)Math.Round((resizedHeight - spec.CropHeight) / 2.0, MidpointRounding.ToEven));

    /// <summary>
    /// Writes the normalised planar crop (<c>(x − mean) / std</c> per tensor channel, spec's channel order) of the
    /// image to <paramref name="destination"/> (3 × CropHeight × CropWidth floats).
    /// </summary>
    /// <param name="pixels">Interleaved 8-bit pixels, <paramref name="bytesPerPixel"/> bytes each, rows packed.</param>
    /// <param name="redOffset">Byte offset of red inside a pixel (BGRA: 2, RGBA: 0); green is always 1.</param>
    /// <param name="scale">1 / std per tensor channel.</param>
    /// <param name="bias">−mean / std per tensor channel.</param>
    public static void ResizeCropNormalize(ReadOnlySpan<byte> pixels, int width, int height, int bytesPerPixel, int redOffset,
        PreprocessingSpec spec, ReadOnlySpan<float> scale, ReadOnlySpan<float> bias, Span<float> destination)
    {
        int cw = spec.CropWidth, ch = spec.CropHeight;
        var (nw, nh) = ResizedSize(width, height, spec.ResizeShorterSide);
        var (left, top) = CropOffset(nw, nh, spec);
        var columns = Weights(width, nw, left, cw);
        var rows = Weights(height, nh, top, ch);
        int blueOffset = 2 - redOffset;
        // Source byte offset of each tensor channel.
        Span<int> channelOffset = spec.Channels == ChannelOrder.Rgb ? [redOffset, 1, blueOffset] : [blueOffset, 1, redOffset];

        // Horizontal pass over the source rows the vertical pass needs: [rows.First, rows.Last].
        int firstRow = rows.Start[0], lastRow = rows.Start[ch - 1] + rows.Count[ch - 1];
        var horizontal = new float[(lastRow - firstRow) * 3 * cw]; // [sourceRow][channel][x]
        int stride = width * bytesPerPixel;
        int o0 = channelOffset[0], o1 = channelOffset[1], o2 = channelOffset[2];
        for (int sy = firstRow; sy < lastRow; sy++)
        {
            var src = pixels.Slice(sy * stride, stride);
            var dstRow = horizontal.AsSpan((sy - firstRow) * 3 * cw, 3 * cw);
            for (int x = 0; x < cw; x++)
            {
                // All three channels per tap: each source pixel is read once (same order of sums as per channel).
                int start = columns.Start[x], count = columns.Count[x], w0 = columns.Offset[x];
                float s0 = 0, s1 = 0, s2 = 0;
                int o = start * bytesPerPixel;
                for (int k = 0; k < count; k++, o += bytesPerPixel)
                {
                    float w = columns.W[w0 + k];
                    s0 += w * src[o + o0];
                    s1 += w * src[o + o1];
                    s2 += w * src[o + o2];
                }
                dstRow[x] = s0;
                dstRow[cw + x] = s1;
                dstRow[2 * cw + x] = s2;
            }
        }

        // Vertical pass, then normalisation, vectorised over the row. Multiply and add stay separate operations
        // (no fused multiply-add): the tensors are bit for bit those of the scalar loops they replace.
        Span<float> product = cw <= 1024 ? stackalloc float[cw] : new float[cw];
        for (int y = 0; y < ch; y++)
        {
            int start = rows.Start[y] - firstRow, count = rows.Count[y], w0 = rows.Offset[y];
            for (int c = 0; c < 3; c++)
            {
                var dst = destination.Slice((c * ch + y) * cw, cw);
                dst.Clear();
                for (int k = 0; k < count; k++)
                {
                    TensorPrimitives.Multiply(horizontal.AsSpan(((start + k) * 3 + c) * cw, cw), rows.W[w0 + k], product);
                    TensorPrimitives.Add(dst, product, dst);
                }
                TensorPrimitives.Multiply(dst, scale[c], dst);
                TensorPrimitives.Add(dst, bias[c], dst);
            }
        }
    }

    /// <summary>Filter taps per output index in [first, first + count): as PIL's <c>precompute_coeffs</c> for the
    /// bilinear filter (support 1, stretched by the scale when shrinking), weights normalised to sum 1.</summary>
    private static Taps Weights(int inSize, int outSize, int first, int count)
    {
        double scale = (double)inSize / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = filterScale; // bilinear support 1.0 × filterScale
        var starts = new int[count];
        var counts = new int[count];
        var offsets = new int[count];
        var weights = new List<float>(count * ((int)Math.Ceiling(support) * 2 + 1));
        for (int i = 0; i < count; i++)
        {
            double center = (first + i + 0.5) * scale;
            int min = Math.Max((int)(center - support + 0.5), 0);
            int max = Math.Min((int)(center + support + 0.5), inSize);
            double total = 0;
            var taps = new double[Math.Max(max - min, 0)];
            for (int k = 0; k < taps.Length; k++)
            {
                double t = Math.Abs((min + k - center + 0.5) / filterScale);
                taps[k] = t < 1 ? 1 - t : 0;
                total += taps[k];
            }
            starts[i] = min;
            counts[i] = taps.Length;
            offsets[i] = weights.Count;
            foreach (double t in taps) weights.Add((float)(total > 0 ? t / total : 0));
        }
        return new Taps(starts, counts, offsets, weights.ToArray());
    }

    private sealed record Taps(int[] Start, int[] Count, int[] Offset, float[] W);
}
