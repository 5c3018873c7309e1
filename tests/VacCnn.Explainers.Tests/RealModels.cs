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
        string trainedRoot = _temp.Combine("trained");
        Directory.CreateDirectory(trainedRoot);
        // Only this model is loaded (Discover scans every subfolder of the root).
        Directory.CreateSymbolicLink(Path.Combine(trainedRoot, ModelId), Path.Combine(TestPaths.Models, ModelId));
        Trained = Load(trainedRoot);
        // The plugin's in-memory randomisation (proven layer by layer in VacCnn.Models.Onnx.Tests' RandomisationTests).
        _randomised = Trained.RandomiseTopLayers(RandomisedLayers, seed: 1234);

        // Every 33rd of the 1000 samples (one image per class): 30 different classes.
        var files = Directory.GetFiles(TestPaths.ImageNetSamples).Order(StringComparer.Ordinal).Where((_, i) => i % 33 == 0).Take(30).ToArray();
        var batch = new ImagePreprocessor(Trained.Card.Preprocessing).Preprocess(files);
        Assert.Empty(batch.Skipped);
        Images = Enumerable.Range(0, batch.Tensor.Shape[0])
            .Select(i => new FloatTensor([1, .. batch.Tensor.Shape[1..]], batch.Tensor.Item(i).ToArray()))
            .ToArray();
    }

    public IClassifier Trained { get; }
    private readonly RandomisedClassifier _randomised;
    public IClassifier Randomised => _randomised.Classifier;
    public IReadOnlyList<string> RandomisedInitializers => _randomised.Layers;
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

    public void Dispose()
    {
        Trained.Dispose();
        _randomised.Dispose();
        _temp.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class RealModelsCollection : ICollectionFixture<RealModelsFixture>
{
    public const string Name = "explainers on real models";
}
