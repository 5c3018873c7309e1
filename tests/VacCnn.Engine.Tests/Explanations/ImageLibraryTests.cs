using VacCnn.Engine.Data;
using VacCnn.Engine.Explanations;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Explanations;

/// <summary>Image ids resolve only to image files inside the images root.</summary>
public sealed class ImageLibraryTests : IDisposable
{
    private readonly TempDir _root = new("vaccnn-lib-root");
    private readonly TempDir _outside = new("vaccnn-lib-outside");
    private readonly ImageLibrary _library;
    private static readonly ImageNetClasses Classes = ImageNetClasses.Load(TestPaths.ImageNet);

    public ImageLibraryTests()
    {
        string sample = Path.Combine(TestPaths.ImageNetSamples, "n01443537_goldfish.JPEG");
        Directory.CreateDirectory(_root.Combine("n01443537"));
        File.Copy(sample, _root.Combine("n01443537", "a.JPEG"));
        File.Copy(sample, _outside.Combine("n01443537_secret.JPEG"));
        Directory.CreateDirectory(_outside.Combine("n01440764"));
        File.Copy(sample, _outside.Combine("n01440764", "b.JPEG"));
        // Links that stay inside the root are fine; links that leave it are not.
        File.CreateSymbolicLink(_root.Combine("n01443537", "inside-link.JPEG"), _root.Combine("n01443537", "a.JPEG"));
        File.CreateSymbolicLink(_root.Combine("n01443537", "escape.JPEG"), _outside.Combine("n01443537_secret.JPEG"));
        Directory.CreateSymbolicLink(_root.Combine("n01440764"), _outside.Combine("n01440764"));
        File.WriteAllText(_root.Combine("n01443537", "notes.txt"), "not an image");
        _library = new ImageLibrary(_root.Path, Classes, null);
    }

    [Theory]
    [InlineData("n01443537/a.JPEG", true)]
    [InlineData("n01443537/inside-link.JPEG", true)]
    [InlineData("n01443537/escape.JPEG", false)]          // symlink to a file outside
    [InlineData("n01440764/b.JPEG", false)]               // through a symlinked folder outside
    [InlineData("../vaccnn-x/n01443537_secret.JPEG", false)]
    [InlineData("n01443537/../n01443537/a.JPEG", false)]  // '..' is refused even when it stays inside
    [InlineData("./n01443537/a.JPEG", false)]
    [InlineData("n01443537//a.JPEG", false)]
    [InlineData("/etc/passwd", false)]
    [InlineData("n01443537\\a.JPEG", false)]
    [InlineData("n01443537/notes.txt", false)]
    [InlineData("n01443537/missing.JPEG", false)]
    [InlineData("", false)]
    public void Ids_resolve_only_inside_the_root(string id, bool found)
    {
        string? path = _library.Resolve(id);
        Assert.Equal(found, path != null);
        if (path != null) Assert.StartsWith(SafePaths.RealPath(_root.Path) + "/", path);
    }

    [Fact]
    public void Absolute_path_of_a_real_file_outside_is_refused()
    {
        Assert.Null(_library.Resolve(_outside.Combine("n01443537_secret.JPEG")));
        Assert.Null(_library.Resolve(_outside.Combine("n01443537_secret.JPEG").TrimStart('/')));
    }

    [Fact]
    public void Listing_leaves_out_files_that_resolve_outside_the_root()
    {
        var ids = _library.List().Select(i => i.Id).ToList();
        Assert.Contains("n01443537/a.JPEG", ids);
        Assert.DoesNotContain("n01443537/escape.JPEG", ids);
        Assert.DoesNotContain(ids, i => i.StartsWith("n01440764/", StringComparison.Ordinal));
        var a = _library.List(1).Single(i => i.Id == "n01443537/a.JPEG");
        Assert.Equal((376, 263), (a.Width, a.Height));
    }

    public void Dispose()
    {
        _root.Dispose();
        _outside.Dispose();
    }
}
