using VacCnn.Engine.Data;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Data;

public class ImageNetClassesTests
{
    private const string Header = "index\twnid\twordnet_synset_words\tsimple_label";

    [Fact]
    public void RealHierarchy_GivesThePapersRootCounts()
    {
        var classes = ImageNetClasses.Load(TestPaths.ImageNet);

        Assert.Equal(1000, classes.Classes.Count);
        var counts = classes.Classes.GroupBy(c => c.Root).ToDictionary(g => g.Key, g => g.Count());
        var expected = new Dictionary<string, int>
        {
            ["animal"] = 398, ["artifact"] = 522, ["MISC"] = 42, ["natural object"] = 17,
            ["geological formation"] = 9, ["person"] = 3, ["plant"] = 2, ["fungus"] = 7,
        };
        Assert.Equal(expected.OrderBy(kv => kv.Key), counts.OrderBy(kv => kv.Key));
    }

    [Fact]
    public void RealClassIndex_IsTheSortedWnidOrderWithNames()
    {
        var classes = ImageNetClasses.Load(TestPaths.ImageNet);

        // Independent: the standard order is the sorted list of the sample file wnids (PROVENANCE.md).
        var sorted = Directory.GetFiles(TestPaths.ImageNetSamples).Select(f => Path.GetFileName(f)[..9])
            .Order(StringComparer.Ordinal).ToList();
        Assert.Equal(sorted, classes.Classes.Select(c => c.Wnid));
        Assert.Equal(Enumerable.Range(0, 1000), classes.Classes.Select(c => c.Index));

        var tench = classes.Classes[0];
        Assert.Equal(("n01440764", "tench, Tinca tinca", "tench", "animal"), (tench.Wnid, tench.Synonyms, tench.Label, tench.Root));
        Assert.Same(tench, classes.ByWnid("n01440764"));
        Assert.Null(classes.ByWnid("n99999999"));
        // Spot checks against imagenet_1000_hypernym_paths.tsv: analog clock (entity > ... > artifact > ...),
        // alp (... > geological formation > ...), toilet tissue (... > substance > material > paper: no root).
        Assert.Equal("artifact", classes.Classes[409].Root);
        Assert.Equal("geological formation", classes.Classes[970].Root);
        Assert.Equal("MISC", classes.Classes[999].Root);
    }

    [Fact]
    public void TinyHierarchy_PriorityOrderDecidesAmongMultipleParents()
    {
        using var dir = new TempDir();
        // Roots: animal n00015388, artifact n00021939, natural object n00019128, geological formation n09287968,
        // person n00007846, plant n00017222, fungus n12992868. n00000001 stands for "entity" (not a root).
        File.WriteAllLines(dir.Combine(ImageNetClasses.ClassIndexFile),
        [
            Header,
            "0\tn10000000\tc0 words\tc0", // under person (first listed parent) and animal (second) -> animal
            "1\tn10000001\tc1 words\tc1", // directly under plant and person -> person (person precedes plant)
            "2\tn10000002\tc2 words\tc2", // no parent at all -> MISC
            "3\tn10000003\tc3 words\tc3", // ancestors are only non-root nodes -> MISC
            "4\tn12992868\tc4 words\tc4", // the class IS the fungus root -> fungus
            "5\tn10000005\tc5 words\tc5", // geological formation via 3 levels, natural object via 2 -> natural object
            "6\tn10000006\tc6 words\tc6", // artifact at depth 2, animal at depth 3 through another branch -> animal
            "7\tn10000007\tc7 words\tc7", // only geological formation -> geological formation
        ]);
        File.WriteAllLines(dir.Combine(ImageNetClasses.IsAFile),
        [
            "n00000001 n00015388", "n00000001 n00021939", "n00000001 n00019128", "n00000001 n09287968",
            "n00000001 n00007846", "n00000001 n00017222", "n00000001 n12992868",
            "n20000000 n10000000", "n00007846 n20000000", "n20000001 n10000000", "n00015388 n20000001",
            "n00017222 n10000001", "n00007846 n10000001",
            "n20000003 n20000002", "n00000001 n20000003", "n20000002 n10000003",
            "n00000001 n12992868",
            "n20000004 n10000005", "n20000005 n20000004", "n09287968 n20000005", "n00019128 n20000004",
            "n20000006 n10000006", "n00021939 n20000006", "n20000007 n20000006", "n20000008 n20000007", "n00015388 n20000008",
            "n09287968 n10000007",
        ]);

        var classes = ImageNetClasses.Load(dir.Path);

        Assert.Equal(
            ["animal", "person", "MISC", "MISC", "fungus", "natural object", "animal", "geological formation"],
            classes.Classes.Select(c => c.Root));
    }

    [Fact]
    public void MissingFiles_ThrowFileNotFoundNamingTheFile()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => ImageNetClasses.Load(dir.Path));
        Assert.Contains(ImageNetClasses.ClassIndexFile, e.Message);

        File.WriteAllLines(dir.Combine(ImageNetClasses.ClassIndexFile), [Header, "0\tn10000000\ta\tb"]);
        e = Assert.Throws<FileNotFoundException>(() => ImageNetClasses.Load(dir.Path));
        Assert.Contains(ImageNetClasses.IsAFile, e.Message);
        Assert.EndsWith(ImageNetClasses.IsAFile, e.FileName);
    }

    [Theory]
    [InlineData("0\tn10000000\ta\tb|1\tn10000001\tonly three", 3, "4 tab-separated columns")]
    [InlineData("0\tn10000000\ta\tb|2\tn10000001\ta\tb", 3, "out of sequence")]
    [InlineData("0\tn1000000x\ta\tb", 2, "not a wnid")]
    [InlineData("0\tn10000000\ta\tb|1\tn10000000\ta\tb", 3, "already used on line 2")]
    public void MalformedClassIndex_NamesFileAndLine(string rows, int line, string what)
    {
        using var dir = new TempDir();
        File.WriteAllLines(dir.Combine(ImageNetClasses.ClassIndexFile), [Header, .. rows.Split('|')]);
        File.WriteAllLines(dir.Combine(ImageNetClasses.IsAFile), ["n00000001 n10000000"]);

        var e = Assert.Throws<InvalidDataException>(() => ImageNetClasses.Load(dir.Path));
        Assert.Contains($"{ImageNetClasses.ClassIndexFile}, line {line}:", e.Message);
        Assert.Contains(what, e.Message);
    }

    [Theory]
    [InlineData("n00000001 n10000000|n00000001", 2)]
    [InlineData("n00000001 n10000000||parent child", 3)]
    public void MalformedIsA_NamesFileAndLine(string lines, int line)
    {
        using var dir = new TempDir();
        File.WriteAllLines(dir.Combine(ImageNetClasses.ClassIndexFile), [Header, "0\tn10000000\ta\tb"]);
        File.WriteAllLines(dir.Combine(ImageNetClasses.IsAFile), lines.Split('|'));

        var e = Assert.Throws<InvalidDataException>(() => ImageNetClasses.Load(dir.Path));
        Assert.Contains($"{ImageNetClasses.IsAFile}, line {line}:", e.Message);
    }

    [Fact]
    public void CycleInIsA_IsReportedNotLooped()
    {
        using var dir = new TempDir();
        File.WriteAllLines(dir.Combine(ImageNetClasses.ClassIndexFile), [Header, "0\tn10000000\ta\tb"]);
        File.WriteAllLines(dir.Combine(ImageNetClasses.IsAFile), ["n20000000 n10000000", "n20000001 n20000000", "n20000000 n20000001"]);

        var e = Assert.Throws<InvalidDataException>(() => ImageNetClasses.Load(dir.Path));
        Assert.Contains("cycle", e.Message);
    }
}
