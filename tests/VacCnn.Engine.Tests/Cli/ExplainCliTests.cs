using System.Text.Json;
using SixLabors.ImageSharp;
using VacCnn.Contracts;
using VacCnn.Engine.Plugins;
using VacCnn.Engine.Store;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Cli;

/// <summary>vaccnn explain / similarity / layers, run as real processes on real models and photos.</summary>
public sealed class ExplainCliTests : IDisposable
{
    private const string Small = "mobilenet_v1_0.25_128_quant";
    private const string Second = "mobilenet_v1_0.5_160_quant";
    private static readonly string Goldfish = Path.Combine(TestPaths.ImageNetSamples, "n01443537_goldfish.JPEG");
    private readonly TempDir _models = new("vaccnn-cli-models");
    private readonly TempDir _out = new("vaccnn-cli-out");

    public ExplainCliTests()
    {
        // Only the models a test needs: the CLI loads every model under --models.
        foreach (string id in new[] { Small, Second })
            Directory.CreateSymbolicLink(_models.Combine(id), Path.Combine(TestPaths.Models, id));
    }

    private (int Code, string Out, string Err) Run(params string[] args) => VaccnnProcess.Run(
        args.Concat(["--models", _models.Path, "--imagenet", TestPaths.ImageNet, "--plugins", TestPaths.Plugins, "--device", "cpu"]));

    [Fact]
    public void Explain_writes_the_heatmap_png_and_the_npy_map_and_prints_json()
    {
        string png = _out.Combine("goldfish.png"), npy = _out.Combine("goldfish.npy");
        var (code, stdout, stderr) = Run("explain", "--model", Small, "--method", "gradcam", "--threshold", "0.4", Goldfish,
            "--out", png, "--map", npy, "--json");
        Assert.True(code == 0, stderr);
        Assert.Contains("explaining", stderr); // progress goes to stderr, JSON alone to stdout
        var json = JsonDocument.Parse(stdout).RootElement;
        var info = Image.Identify(Goldfish);

        Assert.Equal(1, json.GetProperty("classIndex").GetInt32());
        Assert.Equal("goldfish", json.GetProperty("className").GetString());
        Assert.Equal(1, json.GetProperty("groundTruthIndex").GetInt32());
        Assert.InRange(json.GetProperty("probability").GetDouble(), 0.5, 1);
        Assert.False(string.IsNullOrEmpty(json.GetProperty("layer").GetString()));
        Assert.True(json.GetProperty("millis").GetInt64() > 0);

        // Deletion and insertion AUC (16 steps by default): each the trapezoidal area of its 17-point curve, and the
        // deletion curve starts at the probability of the class on the untouched crop.
        var quality = json.GetProperty("quality");
        foreach (string kind in new[] { "deletion", "insertion" })
        {
            var curve = quality.GetProperty(kind + "Curve").EnumerateArray().Select(x => x.GetDouble()).ToArray();
            Assert.Equal(17, curve.Length);
            double area = 0;
            for (int k = 0; k < 16; k++) area += (curve[k] + curve[k + 1]) / 2 / 16;
            Assert.Equal(area, json.GetProperty(kind).GetDouble(), 6);
        }
        Assert.Equal(json.GetProperty("probability").GetDouble(), quality.GetProperty("deletionCurve")[0].GetDouble(), 4);
        Assert.True(json.GetProperty("deletion").GetDouble() < json.GetProperty("insertion").GetDouble());
        var (code0, quick, err0) = Run("explain", "--model", Small, "--method", "gradcam", Goldfish, "--out", png, "--quality-steps", "0", "--json");
        Assert.True(code0 == 0, err0);
        Assert.False(JsonDocument.Parse(quick).RootElement.TryGetProperty("quality", out _)); // not measured

        using (var picture = Image.Load(png))
            Assert.Equal((info.Width, info.Height), (picture.Width, picture.Height));
        var (values, shape) = Npy.ReadFloats(npy);
        Assert.Equal(new[] { info.Height, info.Width }, shape);
        Assert.All(values, v => Assert.InRange(v, 0f, 1f));
        Assert.True(values.Max() > 0.9f);
        Assert.Equal(0f, values[0]); // the top-left corner lies outside the centre crop of a landscape photo

        // The probability printed is the model's own: classify (a different verb, same preprocessing) agrees.
        var (code2, classified, err2) = Run("classify", "--model", Small, "--top", "1", Goldfish, "--json");
        Assert.True(code2 == 0, err2);
        double p = JsonDocument.Parse(classified).RootElement[0].GetProperty("top")[0].GetProperty("probability").GetDouble();
        Assert.Equal(p, json.GetProperty("probability").GetDouble(), 5);
    }

    [Fact]
    public void Similarity_is_the_metric_of_the_maps_that_explain_writes()
    {
        string a = _out.Combine("a.npy"), b = _out.Combine("b.npy");
        foreach (var (model, file) in new[] { (Small, a), (Second, b) })
        {
            var (c, _, e) = Run("explain", "--model", model, "--method", "gradcam", Goldfish, "--out", _out.Combine(model + ".png"), "--map", file);
            Assert.True(c == 0, e);
        }
        string csv = _out.Combine("matrix.csv");
        var (code, stdout, stderr) = Run("similarity", "--model", Small, "--model", Second, "--method", "gradcam", "--metric", "ssim", Goldfish, "--json", "--csv", csv);
        Assert.True(code == 0, stderr);
        var json = JsonDocument.Parse(stdout).RootElement;
        var m = json.GetProperty("matrix").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
        Assert.Equal(2, m.Length);
        Assert.Equal(1.0, m[0][0]);
        Assert.Equal(1.0, m[1][1]);
        Assert.Equal(m[0][1], m[1][0]);

        // Independently: the metric plugin on the two .npy maps.
        using var catalog = PluginCatalog.Load(TestPaths.Plugins);
        var ssim = catalog.Metrics.Single(x => x.Id == "ssim");
        SaliencyMap Load(string f) { var (v, s) = Npy.ReadFloats(f); return new SaliencyMap(s[1], s[0], v, 0, 0, null); }
        // The CLI rounds the matrix to 6 decimals, so they agree within 5e-7. Rounding both sides to 5 decimals
        // (the old check) failed whenever the value sat on a rounding boundary (0.930354981 vs 0.930355).
        Assert.Equal(ssim.Similarity(Load(a), Load(b)), m[0][1], 1e-6);
        Assert.True(m[0][1] < 1);
        // The CSV keeps full precision, and NumPy reads it as it is (model ids: header and first column).
        string printed = ReferencePython.Run($"""
            import numpy as np
            m = np.loadtxt(r'{csv}', delimiter=',', skiprows=1, usecols=(1, 2))
            print(repr(float(m[0, 1])), repr(float(m[1, 0])), m.shape)
            """);
        var parts = printed.Split(' ', 3);
        Assert.Equal(ssim.Similarity(Load(a), Load(b)), double.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), 1e-12);
        Assert.Equal(parts[0], parts[1]);
        Assert.StartsWith($"model,{Small},{Second}", File.ReadAllLines(csv)[0]);
    }

    [Fact]
    public void Layers_lists_the_candidate_layers_with_the_manifest_default()
    {
        var (code, stdout, stderr) = Run("layers", "--model", Small, "--json");
        Assert.True(code == 0, stderr);
        var json = JsonDocument.Parse(stdout).RootElement;
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Models, Small, "model.json")));
        string expected = manifest.RootElement.GetProperty("targetLayer").GetString()!;
        Assert.Equal(expected, json.GetProperty("defaultLayer").GetString());
        var layers = json.GetProperty("layers").EnumerateArray().ToList();
        Assert.True(layers.Count > 5);
        var d = Assert.Single(layers, l => l.GetProperty("isDefault").GetBoolean());
        Assert.Equal(expected, d.GetProperty("name").GetString());
        Assert.Equal(256, d.GetProperty("channels").GetInt32()); // MobileNet V1 0.25: 1024 × 0.25 channels at the last layer
        Assert.Equal(4, d.GetProperty("width").GetInt32());     // 128 / 32
    }

    [Theory]
    [InlineData("explain --model {small} --method gradcam {image}", "--out")]
    [InlineData("explain --model {small} --method magic {image} --out {png}", "magic")]
    [InlineData("explain --model {small} --method gradcam --threshold 2 {image} --out {png}", "--threshold")]
    [InlineData("explain --model {small} --method gradcam --class 5000 {image} --out {png}", "0..999")]
    [InlineData("explain --model {small} --method gradcam --layer nope {image} --out {png}", "nope")]
    [InlineData("explain --model {small} --method smoothgradcampp --set samples=0 {image} --out {png}", "between 1 and 500")]
    [InlineData("explain --model {small} --method gradcam /nonexistent.jpg --out {png}", "/nonexistent.jpg")]
    [InlineData("similarity --model {small} --method gradcam --metric cosine {image}", "cosine")]
    [InlineData("layers --model nope", "nope")]
    public void Bad_input_gives_one_line_and_a_nonzero_exit_code(string commandLine, string mentioned)
    {
        var args = commandLine.Split(' ').Select(a => a.Replace("{small}", Small).Replace("{image}", Goldfish)
            .Replace("{png}", _out.Combine("x.png"))).ToArray();
        VaccnnProcess.AssertOneLineError(Run(args), mentioned);
        Assert.False(File.Exists(_out.Combine("x.png")));
    }

    public void Dispose()
    {
        _models.Dispose();
        _out.Dispose();
    }
}
