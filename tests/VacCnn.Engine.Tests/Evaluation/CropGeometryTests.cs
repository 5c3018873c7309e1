using VacCnn.Contracts;
using VacCnn.Engine.Evaluation;

namespace VacCnn.Engine.Tests.Evaluation;

public class CropGeometryTests
{
    [Fact]
    public void Landscape_ResizeShorterSideThenCentreCrop()
    {
        // 1024x512 -> 512x256 (scale 1/2); crop 224 starts at ((512-224)/2, (256-224)/2) = (144, 16) in the resized
        // image = (288, 32) in the original; 224 resized px = 448 original px.
        Assert.Equal(new CropRect(288, 32, 448, 448), CropGeometry.SourceRect(1024, 512, PreprocessingSpec.TorchVision()));
    }

    [Fact]
    public void Portrait_NonSquareCrop()
    {
        // 256x512, resize 128 -> 128x256 (scale 1/2); crop 112 wide x 96 high starts at ((128-112)/2, (256-96)/2) =
        // (8, 80) -> original (16, 160), size 224 x 192.
        var spec = new PreprocessingSpec(128, 112, 96, ChannelOrder.Rgb, [0, 0, 0], [1, 1, 1]);
        Assert.Equal(new CropRect(16, 160, 224, 192), CropGeometry.SourceRect(256, 512, spec));
    }

    [Fact]
    public void Square_FractionalScale()
    {
        // 500x500 -> 256x256 (scale 0.512); crop offset 16 -> 16 / 0.512 = 31.25; 224 / 0.512 = 437.5.
        var r = CropGeometry.SourceRect(500, 500, PreprocessingSpec.TorchVision());
        Assert.Equal(31.25, r.X, 6);
        Assert.Equal(31.25, r.Y, 6);
        Assert.Equal(437.5, r.Width, 6);
        Assert.Equal(437.5, r.Height, 6);
    }

    [Fact]
    public void HalfPixelCentring_RoundsToEvenLikeTorchvision()
    {
        // 300x225 (4:3), resize 128 -> int(128 * 300 / 225) = 170 x 128 (torchvision truncates); the crop of 112
        // starts at round((170-112)/2) = 29 -> original 29 * 300/170 = 51.18; y: round(8) = 8 ->
        // 8 * 225/128 = 14.0625.
        var spec = PreprocessingSpec.TorchVision(crop: 112, resize: 128);
        var r = CropGeometry.SourceRect(300, 225, spec);
        Assert.Equal(29 * 300.0 / 170, r.X, 6);
        Assert.Equal(8 * 225.0 / 128, r.Y, 6);
        Assert.Equal(112 * 300.0 / 170, r.Width, 6);
        Assert.Equal(112 * 225.0 / 128, r.Height, 6);
    }
}
