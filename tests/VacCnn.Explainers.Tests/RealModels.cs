using Google.Protobuf;
using Onnx;
using VacCnn.Contracts;
using VacCnn.Engine.Evaluation;
using VacCnn.Models.Onnx;
using VacCnn.TestSupport;

namespace VacCnn.Explainers.Tests;

/// <summary>
/// The smallest real model (MobileNet V1 0.25 at 128 px, quantised), the same model with its top layers
/// randomised, and 30 real ImageNet images preprocessed by the engine's ML.NET preprocessor.
/// </summary>
public sealed class RealModelsFixture : IDisposable
{
    public const string ModelId = "mobilenet_v1_0.25_128_quant";

    /// <summary>How many weighted layers (Conv/Gemm/MatMul), counted from the output, get their weights shuffled.</summary>
    public const int RandomisedLayers = 3;

    private readonly TempDir _temp = new("vaccnn-explain");

    public RealModelsFixture()
    {
        string trainedRoot = _temp.Combine("trained"), randomRoot = _temp.Combine("randomised");
        Directory.CreateDirectory(trainedRoot);
        // Only this model is loaded (Discover scans every subfolder of the root).
        Directory.CreateSymbolicLink(Path.Combine(trainedRoot, ModelId), Path.Combine(TestPaths.Models, ModelId));
        Trained = Load(trainedRoot);

        string randomFolder = Path.Combine(randomRoot, ModelId);
        Directory.CreateDirectory(randomFolder);
        File.Copy(Path.Combine(TestPaths.Models, ModelId, "model.json"), Path.Combine(randomFolder, "model.json"));
        RandomisedInitializers = WriteRandomised(Path.Combine(TestPaths.Models, ModelId, "model.onnx"), Path.Combine(randomFolder, "model.onnx"), RandomisedLayers, seed: 1234);
        Randomised = Load(randomRoot);

        // Every 33rd of the 1000 samples (one image per class): 30 different classes.
        var files = Directory.GetFiles(TestPaths.ImageNetSamples).Order(StringComparer.Ordinal).Where((_, i) => i % 33 == 0).Take(30).ToArray();
        var batch = new ImagePreprocessor(Trained.Card.Preprocessing).Preprocess(files);
        Assert.Empty(batch.Skipped);
        Images = Enumerable.Range(0, batch.Tensor.Shape[0])
            .Select(i => new FloatTensor([1, .. batch.Tensor.Shape[1..]], batch.Tensor.Item(i).ToArray()))
            .ToArray();
    }

    public IClassifier Trained { get; }
    public IClassifier Randomised { get; }
    public IReadOnlyList<string> RandomisedInitializers { get; }
    public IReadOnlyList<FloatTensor> Images { get; }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string, int), SaliencyMap> _trainedMaps = new();

    /// <summary>The trained model's map of image <paramref name="index"/> (predicted class, seed 1), computed once per run.</summary>
    public SaliencyMap TrainedMap(string explainer, int index, Func<SaliencyMap> compute) => _trainedMaps.GetOrAdd((explainer, index), _ => compute());

    private static IClassifier Load(string root)
    {
        var results = new OnnxModelSource().Discover(new ModelSourceContext(root, ExecutionDevice.Cpu, _ => { }));
        var r = Assert.Single(results);
        return r.Classifier ?? throw new InvalidOperationException(r.Error);
    }

    /// <summary>
    /// Writes a copy of the model whose last <paramref name="layers"/> weighted layers have their weights randomly
    /// permuted (Adebayo et al.'s cascading randomisation from the top; a permutation keeps each layer's weight
    /// distribution, and so the scale of activations, but destroys what was learned). Handles weights stored as
    /// initializers directly or behind a DequantizeLinear (quantised models). Returns the initializers changed.
    /// </summary>
    public static IReadOnlyList<string> WriteRandomised(string source, string destination, int layers, int seed)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(source));
        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var n in graph.Node) foreach (var o in n.Output) producers[o] = n;

        TensorProto? WeightOf(NodeProto node)
        {
            string w = node.Input[1];
            if (initializers.TryGetValue(w, out var t)) return t;
            if (producers.TryGetValue(w, out var p) && p.OpType == "DequantizeLinear" && initializers.TryGetValue(p.Input[0], out var q)) return q;
            return null;
        }

        var weighted = graph.Node.Where(n => n.OpType is "Conv" or "Gemm" or "MatMul" && n.Input.Count > 1 && WeightOf(n) != null).ToList();
        if (weighted.Count < layers) throw new InvalidOperationException($"only {weighted.Count} weighted layers found");
        var rng = new Random(seed);
        var changed = new List<string>();
        foreach (var node in weighted.TakeLast(layers))
        {
            var t = WeightOf(node)!;
            Permute(t, rng);
            changed.Add($"{node.OpType} {t.Name} [{string.Join(",", t.Dims)}]");
        }
        File.WriteAllBytes(destination, model.ToByteArray());
        return changed;
    }

    private static void Permute(TensorProto t, Random rng)
    {
        if (t.RawData.Length > 0)
        {
            int size = t.DataType switch { 1 => 4, 2 or 3 => 1, 6 => 4, 10 => 2, 11 => 8, _ => throw new NotSupportedException($"data type {t.DataType}") };
            var bytes = t.RawData.ToByteArray();
            int n = bytes.Length / size;
            var order = Enumerable.Range(0, n).ToArray();
            rng.Shuffle(order);
            var result = new byte[bytes.Length];
            for (int i = 0; i < n; i++) Array.Copy(bytes, order[i] * size, result, i * size, size);
            t.RawData = ByteString.CopyFrom(result);
        }
        else if (t.FloatData.Count > 0)
        {
            var v = t.FloatData.ToArray();
            rng.Shuffle(v);
            t.FloatData.Clear();
            t.FloatData.Add(v);
        }
        else if (t.Int32Data.Count > 0)
        {
            var v = t.Int32Data.ToArray();
            rng.Shuffle(v);
            t.Int32Data.Clear();
            t.Int32Data.Add(v);
        }
        else throw new NotSupportedException($"initializer {t.Name} stores its data in an unsupported field");
    }

    public void Dispose()
    {
        Trained.Dispose();
        Randomised.Dispose();
        _temp.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class RealModelsCollection : ICollectionFixture<RealModelsFixture>
{
    public const string Name = "explainers on real models";
}
