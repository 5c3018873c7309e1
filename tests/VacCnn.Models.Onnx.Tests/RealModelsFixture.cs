using System.Collections.Concurrent;
using VacCnn.Contracts;
using VacCnn.TestSupport;

namespace VacCnn.Models.Onnx.Tests;

/// <summary>The 11 shared models loaded once (folded, CPU) for all tests of a class; the log is kept for asserts.</summary>
public sealed class RealModelsFixture : IDisposable
{
    public RealModelsFixture()
    {
        Results = new OnnxModelSource().Discover(new ModelSourceContext(TestPaths.Models, ExecutionDevice.Cpu, Log.Add));
    }

    public ConcurrentBag<string> Log { get; } = [];

    public IReadOnlyList<ModelLoadResult> Results { get; }

    public OnnxClassifier Get(string id) =>
        (OnnxClassifier)(Results.Single(r => r.Id == id).Classifier ?? throw new InvalidOperationException(Results.Single(r => r.Id == id).Error));

    public void Dispose()
    {
        foreach (var r in Results) r.Classifier?.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class RealModelsCollection : ICollectionFixture<RealModelsFixture>
{
    public const string Name = "real models";
}
