using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using VacCnn.Contracts;
using VacCnn.Models.Onnx.Backward;

namespace VacCnn.Models.Onnx;

/// <summary>
/// A classifier backed by one ONNX Runtime session, created once and shared by all callers
/// (<see cref="InferenceSession.Run(RunOptions, IReadOnlyCollection{string}, IReadOnlyCollection{OrtValue}, IReadOnlyCollection{string})"/>
/// is thread-safe; every call uses its own input/output OrtValues).
/// </summary>
public sealed class OnnxClassifier : IClassifier
{
    private readonly InferenceSession _session;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly bool _fixedBatchOfOne;
    private int _disposed;
    private readonly int _threads; // intra-op threads of every session of this model (0 = all cores)

    internal OnnxClassifier(ModelCard card, InferenceSession session, ModelProto model, string inputName, string outputName,
        bool fixedBatchOfOne, string provider, bool folded, int threads)
    {
        _threads = threads;
        Card = card;
        _session = session;
        Model = model;
        InputName = inputName;
        OutputName = outputName;
        _inputNames = [inputName];
        _outputNames = [outputName];
        _fixedBatchOfOne = fixedBatchOfOne;
        ExecutionProvider = provider;
        ConstantsFolded = folded;
        _explainer = new Lazy<OnnxExplainer>(() => new OnnxExplainer(this), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    private readonly Lazy<OnnxExplainer> _explainer;
    private int _randomisableLayers = -1;

    /// <inheritdoc />
    public int RandomisableLayers =>
        _randomisableLayers >= 0 ? _randomisableLayers : _randomisableLayers = WeightRandomiser.WeightedLayersFromTop(Model.Graph).Count;

    /// <inheritdoc />
    public RandomisedClassifier RandomiseTopLayers(int layers, int seed)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var copy = Model.Clone(); // the graph as this session runs it (folded weights included)
        var changed = WeightRandomiser.Randomise(copy.Graph, layers, seed);
        var session = NewSession(copy.ToByteArray());
        return new RandomisedClassifier
        {
            Classifier = new OnnxClassifier(Card, session, copy, InputName, OutputName, _fixedBatchOfOne, ExecutionProvider, ConstantsFolded, _threads),
            Layers = changed,
        };
    }

    /// <inheritdoc />
    public ModelCard Card { get; }

    /// <summary>Activations and gradients: the backward pass is an augmented ONNX graph (see <see cref="BackwardGraphBuilder"/>).</summary>
    public IExplainableClassifier? Explainable => _disposed != 0 ? null : _explainer.Value;

    internal bool FixedBatchOfOne => _fixedBatchOfOne;

    /// <summary>A session for a derived graph, on the same execution provider as the main one.</summary>
    internal InferenceSession NewSession(byte[] bytes)
    {
        using var options = SessionSettings.Create(_threads);
        if (ExecutionProvider == "CUDAExecutionProvider") options.AppendExecutionProvider_CUDA(0);
        return new InferenceSession(bytes, options);
    }

    /// <summary>The ONNX Runtime execution provider the session was created with, e.g. "CPUExecutionProvider".</summary>
    public string ExecutionProvider { get; }

    /// <summary>Whether constant subgraphs (de-quantized weights) were folded into float initializers.</summary>
    public bool ConstantsFolded { get; }

    /// <summary>The graph the session runs (after folding), kept for graph rewrites such as a backward pass.</summary>
    internal ModelProto Model { get; }

    internal string InputName { get; }

    internal string OutputName { get; }

    /// <summary>Raw model outputs (logits or probabilities, whatever the graph emits) for [N,3,H,W] images.</summary>
    public FloatTensor PredictRaw(FloatTensor images)
    {
        CheckImages(images);
        return PredictChecked(images);
    }

    /// <summary>Rejects images that are not [N,3,H,W] at the model's crop size.</summary>
    internal void CheckImages(FloatTensor images)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var p = Card.Preprocessing;
        if (images.Shape.Length != 4 || images.Shape[1] != 3 || images.Shape[2] != p.CropHeight || images.Shape[3] != p.CropWidth)
            throw new ArgumentException(
                $"model {Card.Id}: input must be [N,3,{p.CropHeight},{p.CropWidth}], got [{string.Join(",", images.Shape)}]", nameof(images));
        if (images.Data.Length != images.Length)
            throw new ArgumentException($"model {Card.Id}: data length {images.Data.Length} does not match shape", nameof(images));
    }

    private FloatTensor PredictChecked(FloatTensor images)
    {
        var p = Card.Preprocessing;
        int n = images.Shape[0];
        int classes = Card.ClassCount;
        var result = new float[(long)n * classes];
        if (n == 0) return new FloatTensor([0, classes], result);

        if (!_fixedBatchOfOne)
        {
            RunInto(images.Data, [n, 3, p.CropHeight, p.CropWidth], result, 0, n);
        }
        else
        {
            // The graph declares batch = 1: run the items one by one.
            int per = 3 * p.CropHeight * p.CropWidth;
            for (int i = 0; i < n; i++)
                RunInto(images.Data.AsSpan(i * per, per).ToArray(), [1, 3, p.CropHeight, p.CropWidth], result, i * classes, 1);
        }
        return new FloatTensor([n, classes], result);
    }

    private void RunInto(float[] input, long[] shape, float[] result, int offset, int n)
    {
        using var inputValue = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var runOptions = new RunOptions();
        using var outputs = _session.Run(runOptions, _inputNames, [inputValue], _outputNames);
        var data = outputs[0].GetTensorDataAsSpan<float>();
        if (data.Length != n * Card.ClassCount)
            throw new InvalidOperationException($"model {Card.Id}: output has {data.Length} values, expected {n}×{Card.ClassCount}");
        data.CopyTo(result.AsSpan(offset));
    }

    /// <inheritdoc />
    public FloatTensor PredictProbabilities(FloatTensor images)
    {
        var raw = PredictRaw(images);
        if (Card.OutputKind == OutputKind.Logits)
            for (int i = 0; i < raw.Shape[0]; i++) Numerics.Scores.Softmax(raw.Item(i), raw.Item(i));
        return raw;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _session.Dispose();
        if (_explainer.IsValueCreated) _explainer.Value.Dispose();
    }
}
