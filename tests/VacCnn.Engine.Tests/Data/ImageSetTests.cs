using System.Security.Cryptography;
using System.Text;
using VacCnn.Engine.Data;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Data;

public class ImageSetTests
{
    private static readonly Lazy<ImageNetClasses> LazyClasses = new(() => ImageNetClasses.Load(TestPaths.ImageNet));
    private static ImageNetClasses Classes => LazyClasses.Value;

    private static readonly string Tench = Path.Combine(TestPaths.ImageNetSamples, "n01440764_tench.JPEG");
    private static readonly string Goldfish = Path.Combine(TestPaths.ImageNetSamples, "n01443537_goldfish.JPEG");

    private static void Put(TempDir dir, string rel, string? source = null)
    {
        string path = dir.Combine(rel.Split('/'));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (source != null) File.Copy(source, path);
        else File.WriteAllText(path, "not really an image");
    }

    [Fact]
    public void SharedSamples_AreFlat_AndEveryImageGetsItsClassIndex()
    {
        var set = ImageSet.Open(TestPaths.ImageNetSamples, Classes);

        Assert.Equal("flat", set.Layout);
        Assert.Empty(set.Unlabelled);
        Assert.Equal(1000, set.Images.Count);
        // Independent: the class index is the position of the wnid in the sorted list of the file-name wnids.
        var names = Directory.GetFiles(TestPaths.ImageNetSamples).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        var sortedWnids = names.Select(n => n![..9]).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(names, set.Images.Select(i => i.RelativePath));
        foreach (var img in set.Images)
        {
            Assert.Equal(img.RelativePath[..9], img.Wnid);
            Assert.Equal(sortedWnids.IndexOf(img.Wnid), img.ClassIndex);
            Assert.Equal(Path.Combine(TestPaths.ImageNetSamples, img.RelativePath), img.Path);
        }
        Assert.Matches("^[0-9a-f]{64}$", set.Fingerprint);
    }

    [Fact]
    public void ImageFolderLayout_LabelsByFolder_AndReportsStrays()
    {
        using var dir = new TempDir();
        Put(dir, "n01440764/a.JPEG", Tench);
        Put(dir, "n01443537/sub/b.jpg", Goldfish);
        Put(dir, "n01443537/c.png", Goldfish);
        Put(dir, "stray.JPEG", Tench);
        Put(dir, "notes/x.JPEG", Tench);
        Put(dir, "n99999999/y.JPEG", Tench);
        Put(dir, "n01440764/readme.txt");

        var set = ImageSet.Open(dir.Path, Classes);

        Assert.Equal("imagefolder", set.Layout);
        Assert.Equal(
            [("n01440764/a.JPEG", "n01440764", 0), ("n01443537/c.png", "n01443537", 1), ("n01443537/sub/b.jpg", "n01443537", 1)],
            set.Images.Select(i => (i.RelativePath, i.Wnid, i.ClassIndex)));
        Assert.Equal(["n99999999/y.JPEG", "notes/x.JPEG", "stray.JPEG"], set.Unlabelled.Select(u => u.RelativePath));
        Assert.Contains("unknown wnid n99999999", set.Unlabelled[0].Reason);
        Assert.Contains("'notes' is not a wnid", set.Unlabelled[1].Reason);
        Assert.Contains("not inside a class folder", set.Unlabelled[2].Reason);
    }

    [Fact]
    public void FlatLayout_LabelsByFileNamePrefix()
    {
        using var dir = new TempDir();
        Put(dir, "n01443537_goldfish.JPEG", Goldfish);
        Put(dir, "n01440764.jpg", Tench);
        Put(dir, "holiday.jpg", Tench);
        Put(dir, "n99999999_x.png", Tench);
        Put(dir, "list.txt");

        var set = ImageSet.Open(dir.Path, Classes);

        Assert.Equal("flat", set.Layout);
        Assert.Equal([("n01440764.jpg", 0), ("n01443537_goldfish.JPEG", 1)], set.Images.Select(i => (i.RelativePath, i.ClassIndex)));
        Assert.Equal([("holiday.jpg", true), ("n99999999_x.png", false)],
            set.Unlabelled.Select(u => (u.RelativePath, u.Reason.Contains("does not start with a wnid"))));
        Assert.Contains("unknown wnid", set.Unlabelled[1].Reason);
    }

    [Fact]
    public void LabelsCsv_LabelsListedFiles_AndRejectsPathsOutsideTheRoot()
    {
        using var outer = new TempDir();
        Put(outer, "outside.JPEG", Tench); // exists, but must not be reachable through ".."
        string root = outer.Combine("set");
        Directory.CreateDirectory(root);
        string In(string rel) => Path.Combine(root, rel);
        Directory.CreateDirectory(In("imgs"));
        File.Copy(Tench, In("imgs/a.JPEG"));
        File.Copy(Goldfish, In("b, with comma.jpg"));
        File.Copy(Tench, In("c.jpg"));
        File.Copy(Tench, In("d.jpg"));
        File.Copy(Tench, In("unlisted.jpg"));
        File.WriteAllLines(In(ImageSet.LabelsFile),
        [
            "path,wnid",
            "imgs/a.JPEG,n01440764",
            "\"b, with comma.jpg\",n01443537,extra column ignored",
            "../outside.JPEG,n01440764",
            "imgs/../../outside.JPEG,n01440764",
            "/etc/hostname,n01440764",
            "missing.jpg,n01440764",
            "c.jpg,n99999999",
            "",
            "d.jpg,cat",
            "imgs/./a.JPEG,n01443537",
        ]);

        var set = ImageSet.Open(root, Classes);

        Assert.Equal("labels.csv", set.Layout);
        Assert.Equal([("b, with comma.jpg", 1), ("imgs/a.JPEG", 0)], set.Images.Select(i => (i.RelativePath, i.ClassIndex)));
        Assert.Equal(8, set.Unlabelled.Count);
        Assert.Contains(set.Unlabelled, u => u.RelativePath == "../outside.JPEG" && u.Reason.Contains("line 4") && u.Reason.Contains("leaves"));
        Assert.Contains(set.Unlabelled, u => u.RelativePath == "imgs/../../outside.JPEG" && u.Reason.Contains("leaves"));
        Assert.Contains(set.Unlabelled, u => u.RelativePath == "/etc/hostname" && u.Reason.Contains("absolute"));
        Assert.Contains(set.Unlabelled, u => u.RelativePath == "missing.jpg" && u.Reason.Contains("not found"));
        Assert.Contains(set.Unlabelled, u => u.RelativePath == "c.jpg" && u.Reason.Contains("unknown wnid n99999999"));
        Assert.Contains(set.Unlabelled, u => u.RelativePath == "d.jpg" && u.Reason.Contains("line 10") && u.Reason.Contains("not a wnid"));
        Assert.Contains(set.Unlabelled, u => u.RelativePath == "imgs/a.JPEG" && u.Reason.Contains("listed again (first on line 2)"));
        Assert.Contains(set.Unlabelled, u => u.RelativePath == "unlisted.jpg" && u.Reason.Contains("not listed"));
    }

    [Fact]
    public void LabelsCsv_WithoutHeader_LabelsTheFirstRow_AndMalformedRowsNameTheLine()
    {
        using var dir = new TempDir();
        Put(dir, "a.jpg", Tench);
        File.WriteAllLines(dir.Combine(ImageSet.LabelsFile), ["a.jpg,n01440764"]);
        var set = ImageSet.Open(dir.Path, Classes);
        Assert.Equal([("a.jpg", 0)], set.Images.Select(i => (i.RelativePath, i.ClassIndex)));

        File.WriteAllLines(dir.Combine(ImageSet.LabelsFile), ["path,wnid", "a.jpg,n01440764", "just-a-path.jpg"]);
        var e = Assert.Throws<InvalidDataException>(() => ImageSet.Open(dir.Path, Classes));
        Assert.Contains("labels.csv, line 3", e.Message);
    }

    [Fact]
    public void MissingFolder_ThrowsDirectoryNotFoundWithThePath()
    {
        string missing = Path.Combine(Path.GetTempPath(), "vaccnn-no-such-" + Guid.NewGuid().ToString("N"));
        var e = Assert.Throws<DirectoryNotFoundException>(() => ImageSet.Open(missing, Classes));
        Assert.Contains(missing, e.Message);
    }

    [Fact]
    public void Fingerprint_IsStable_AndChangesWithContentTimeNameOrLabel()
    {
        using var dir = new TempDir();
        Put(dir, "n01440764/a.JPEG", Tench);
        Put(dir, "n01443537/b.JPEG", Goldfish);
        var t0 = new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(dir.Combine("n01440764", "a.JPEG"), t0);
        File.SetLastWriteTimeUtc(dir.Combine("n01443537", "b.JPEG"), t0);
        string Fp() => ImageSet.Open(dir.Path, Classes).Fingerprint;

        string f0 = Fp();
        Assert.Equal(f0, Fp());
        // Independent SHA-256 of the documented record format.
        string expected = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
            $"n01440764/a.JPEG\0n01440764\0{new FileInfo(Tench).Length}\0{t0.Ticks}\n" +
            $"n01443537/b.JPEG\0n01443537\0{new FileInfo(Goldfish).Length}\0{t0.Ticks}\n")));
        Assert.Equal(expected, f0);

        // An unlabelled file does not take part.
        Put(dir, "stray.JPEG", Tench);
        Assert.Equal(f0, Fp());

        // Modification time.
        File.SetLastWriteTimeUtc(dir.Combine("n01440764", "a.JPEG"), t0.AddSeconds(1));
        Assert.NotEqual(f0, Fp());
        File.SetLastWriteTimeUtc(dir.Combine("n01440764", "a.JPEG"), t0);
        Assert.Equal(f0, Fp());

        // Content length.
        File.AppendAllText(dir.Combine("n01440764", "a.JPEG"), "x");
        File.SetLastWriteTimeUtc(dir.Combine("n01440764", "a.JPEG"), t0);
        string f1 = Fp();
        Assert.NotEqual(f0, f1);

        // Label (same file moved to another class folder) and name.
        Directory.CreateDirectory(dir.Combine("n01484850"));
        File.Move(dir.Combine("n01443537", "b.JPEG"), dir.Combine("n01484850", "b.JPEG"));
        Assert.NotEqual(f1, Fp());
    }
}
