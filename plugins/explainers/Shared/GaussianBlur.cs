// Compiled into the explainer plugins that blur (BBMP, Integrated Gradients' blurred baseline) and into the engine
// (the insertion metric's start image): one blur for all of them, so their baselines agree.
namespace VacCnn.Explainers.Shared;

/// <summary>Separable Gaussian blur of a [channels, H, W] tensor with reflected borders (OpenCV's BORDER_REFLECT_101).</summary>
internal static class GaussianBlur
{
    public static float[] Apply(float[] src, int channels, int height, int width, double sigma)
    {
        int radius = (int)Math.Ceiling(3 * sigma);
        var kernel = new double[2 * radius + 1];
        double sum = 0;
        for (int i = -radius; i <= radius; i++) sum += kernel[i + radius] = Math.Exp(-0.5 * i * i / (sigma * sigma));
        for (int i = 0; i < kernel.Length; i++) kernel[i] /= sum;

        int plane = height * width;
        var tmp = new float[src.Length];
        var dst = new float[src.Length];
        for (int c = 0; c < channels; c++)
        {
            int o = c * plane;
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                {
                    double acc = 0;
                    for (int k = -radius; k <= radius; k++) acc += kernel[k + radius] * src[o + y * width + Reflect(x + k, width)];
                    tmp[o + y * width + x] = (float)acc;
                }
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                {
                    double acc = 0;
                    for (int k = -radius; k <= radius; k++) acc += kernel[k + radius] * tmp[o + Reflect(y + k, height) * width + x];
                    dst[o + y * width + x] = (float)acc;
                }
        }
        return dst;
    }

    /// <summary>Reflects an index into [0, n) without repeating the edge (…2 1 | 0 1 2 … n−1 | n−2 …).</summary>
    internal static int Reflect(int i, int n)
    {
        if (n == 1) return 0;
        while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
        return i;
    }
}
