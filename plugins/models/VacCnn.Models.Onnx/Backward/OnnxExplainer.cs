using System.Collections.Concurrent;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using VacCnn.Contracts;

namespace VacCnn.Models.Onnx.Backward;

/// <summary>
/// Activations and gradients of an <see cref="OnnxClassifier"/>: one augmented session (forward + backward graph)
/// per (layer, input gradient) and one forward session per layer, each created once and shared (Run is thread-safe).
/// </summary>
internal sealed class OnnxExplainer : IExplainableClassifier, IDisposable
{
    private readonly OnnxClassifier _owner;
    private readonly Lazy<(IReadOnlyList<LayerInfo> Layers, string Default)> _layers;
    // Per (layer, input gradient, objective): objective null is the graph with a seed input, otherwise its targeted form.
    private readonly ConcurrentDictionary<(string Layer, bool Input, GradientObjective? Objective), Lazy<(InferenceSession Session, BackwardGraph Graph)>> _backward = new();
    private readonly ConcurrentDictionary<string, Lazy<InferenceSession>> _forward = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<InferenceSession>> _scaled = new(StringComparer.Ordinal);

    public OnnxExplainer(OnnxClassifier owner)
    {
        _owner = owner;
        _layers = new(FindLayers, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public IReadOnlyList<LayerInfo> CandidateLayers => _layers.Value.Layers;

    public string DefaultLayer => _layers.Value.Default;

    private int H => _owner.Card.Preprocessing.CropHeight;

    private int W => _owner.Card.Preprocessing.CropWidth;

    /// <summary>Ops that keep an NCHW layout from their (first) input to their output.</summary>
    private static readonly HashSet<string> LayoutPreserving = new(StringComparer.Ordinal)
    {
        "Relu", "Clip", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Identity", "Dropout",
        "QuantizeLinear", "DequantizeLinear", "Add", "Mul", "Sub", "Div", "Sum", "BatchNormalization", "LRN",
    };

    /// <summary>
    /// The 4-D float maps known to be NCHW: outputs (and data inputs) of Conv/pooling/BatchNormalization, followed
    /// through element-wise ops and channel Concat (TFLite-converted graphs also hold NHWC tensors between Transposes,
    /// which are not offered). Shapes come from one batch-1 run with the candidates as extra outputs.
    /// </summary>
    private (IReadOnlyList<LayerInfo>, string) FindLayers()
    {
        var graph = _owner.Model.Graph;
        var inits = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var nchw = new HashSet<string>(StringComparer.Ordinal);
        var order = new List<string>();
        void Mark(string t)
        {
            if (t.Length > 0 && !inits.Contains(t) && t != _owner.InputName && nchw.Add(t)) order.Add(t);
        }
        foreach (var n in graph.Node)
        {
            switch (n.OpType)
            {
                case "Conv" or "MaxPool" or "AveragePool" or "BatchNormalization" or "LRN":
                    Mark(n.Input[0]);
                    Mark(n.Output[0]);
                    break;
                case "GlobalAveragePool" or "GlobalMaxPool":
                    Mark(n.Input[0]);
                    break;
                case "ReduceMean" or "ReduceMax" when (n.Attribute.FirstOrDefault(a => a.Name == "axes")?.Ints.ToArray() ?? []) is [2, 3]:
                    Mark(n.Input[0]); // global pooling over H, W of an NCHW map
                    break;
                case "Concat" when n.Input.Any(nchw.Contains) && (n.Attribute.FirstOrDefault(a => a.Name == "axis")?.I ?? 0) == 1:
                    Mark(n.Output[0]);
                    break;
                default:
                    if (LayoutPreserving.Contains(n.OpType) && n.Input.Count > 0 && nchw.Contains(n.Input[0]) && n.Output.Count > 0)
                        Mark(n.Output[0]);
                    break;
            }
        }
        // Input-side first: order by the producing node's position.
        var position = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < graph.Node.Count; i++) foreach (var o in graph.Node[i].Output) position.TryAdd(o, i);
        // The manifest's target is trusted to be NCHW (it is still required to be a 4-D float map below).
        if (_owner.Card.DefaultTargetLayer is { } t0 && !nchw.Contains(t0)) order.Add(t0);
        var names = order.Where(position.ContainsKey).OrderBy(t => position[t]).ToArray();

        var probe = _owner.Model.Clone();
        var existing = probe.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var t in names.Where(t => !existing.Contains(t))) probe.Graph.Output.Add(new ValueInfoProto { Name = t });
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new InferenceSession(probe.ToByteArray(), options);
        using var x = OrtValue.CreateTensorValueFromMemory(new float[3 * H * W], [1, 3, H, W]);
        using var run = new RunOptions();
        using var outs = session.Run(run, [_owner.InputName], [x], names);
        var layers = new List<LayerInfo>();
        for (int i = 0; i < names.Length; i++)
        {
            var info = outs[i].GetTensorTypeAndShape();
            if (info.ElementDataType != TensorElementType.Float || info.Shape.Length != 4 || info.Shape[0] != 1) continue;
            layers.Add(new LayerInfo(names[i], (int)info.Shape[1], (int)info.Shape[2], (int)info.Shape[3]));
        }
        string? manifest = _owner.Card.DefaultTargetLayer;
        string def = manifest != null && layers.Any(l => l.Name == manifest) ? manifest
            : layers.LastOrDefault(l => l.Height * l.Width > 1)?.Name ?? layers.LastOrDefault()?.Name
              ?? throw new NotSupportedException($"model {_owner.Card.Id}: no 4-D NCHW feature map found");
        return (layers, def);
    }

    private void CheckLayer(string layer)
    {
        if (!CandidateLayers.Any(l => l.Name == layer))
            throw new ArgumentException($"model {_owner.Card.Id}: '{layer}' is not a candidate layer (a 4-D NCHW feature map)", nameof(layer));
    }

    public (FloatTensor Scores, FloatTensor Activations) Forward(FloatTensor images, string layer)
    {
        CheckLayer(layer);
        _owner.CheckImages(images);
        var session = _forward.GetOrAdd(layer, l => new Lazy<InferenceSession>(() =>
        {
            var m = _owner.Model.Clone();
            if (!m.Graph.Output.Any(o => o.Name == l)) m.Graph.Output.Add(new ValueInfoProto { Name = l });
            return _owner.NewSession(m.ToByteArray());
        })).Value;
        var results = RunBatched(images, session, [_owner.InputName], [_owner.OutputName, layer]);
        return (results[0], results[1]);
    }

    /// <summary>Name of the extra [N, C, 1, 1] input of a channel-scaling graph.</summary>
    internal const string ChannelScaleName = "vaccnn_channel_scale";

    /// <summary>
    /// The forward graph with the layer's tensor replaced, for every node that reads it, by layer ⊙ scale (scale an
    /// extra [N, C, 1, 1] input, broadcast over positions); the image is repeated N times. ONNX Runtime then runs the
    /// whole network per row, as pytorch-grad-cam's ablation layer does.
    /// </summary>
    public FloatTensor ScoresWithChannelsScaled(FloatTensor image, string layer, FloatTensor channelScales)
    {
        ArgumentNullException.ThrowIfNull(channelScales);
        CheckLayer(layer);
        _owner.CheckImages(image);
        if (image.Shape[0] != 1) throw new ArgumentException($"one image [1,3,{H},{W}] is scaled, got {image.Shape[0]}", nameof(image));
        int channels = CandidateLayers.First(l => l.Name == layer).Channels;
        if (channelScales.Shape.Length != 2 || channelScales.Shape[1] != channels || channelScales.Data.Length != channelScales.Length)
            throw new ArgumentException($"model {_owner.Card.Id}: channel scales must be [N,{channels}] for layer '{layer}', got [{string.Join(",", channelScales.Shape)}]", nameof(channelScales));
        int n = channelScales.Shape[0], per = 3 * H * W;
        var session = _scaled.GetOrAdd(layer, l => new Lazy<InferenceSession>(() => _owner.NewSession(ChannelScalingGraph(l).ToByteArray()))).Value;
        var images = new FloatTensor([n, 3, H, W], new float[n * per]);
        for (int i = 0; i < n; i++) image.Data.AsSpan(0, per).CopyTo(images.Item(i));
        var r = RunBatched(images, session, [_owner.InputName, ChannelScaleName], [_owner.OutputName],
            (start, count) => OrtValue.CreateTensorValueFromMemory(channelScales.Data[(start * channels)..((start + count) * channels)], [count, channels, 1, 1]));
        return r[0];
    }

    private ModelProto ChannelScalingGraph(string layer)
    {
        var m = _owner.Model.Clone();
        var g = m.Graph;
        string scaled = layer + "__vaccnn_scaled";
        foreach (var node in g.Node)
            for (int i = 0; i < node.Input.Count; i++)
                if (node.Input[i] == layer) node.Input[i] = scaled;
        // Inserted right after the producer so the node list stays topologically sorted.
        int producer = g.Node.ToList().FindIndex(nd => nd.Output.Contains(layer));
        var mul = new NodeProto { Name = "vaccnn_channel_scale_mul", OpType = "Mul" };
        mul.Input.Add(layer);
        mul.Input.Add(ChannelScaleName);
        mul.Output.Add(scaled);
        g.Node.Insert(producer + 1, mul);
        foreach (var o in g.Output) if (o.Name == layer) o.Name = scaled; // a layer that is also an output: report the scaled one
        var type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = OnnxTensors.Float, Shape = new TensorShapeProto() } };
        type.TensorType.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "N" });
        type.TensorType.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = CandidateLayers.First(l => l.Name == layer).Channels });
        type.TensorType.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = 1 });
        type.TensorType.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = 1 });
        g.Input.Add(new ValueInfoProto { Name = ChannelScaleName, Type = type });
        return m;
    }

    public GradientResult Backward(FloatTensor images, FloatTensor outputSeed, string layer, bool withInputGradient)
    {
        CheckLayer(layer);
        _owner.CheckImages(images);
        int n = images.Shape[0], classes = _owner.Card.ClassCount;
        if (outputSeed.Shape.Length != 2 || outputSeed.Shape[0] != n || outputSeed.Shape[1] != classes || outputSeed.Data.Length != n * classes)
            throw new ArgumentException($"seed must be [{n},{classes}], got [{string.Join(",", outputSeed.Shape)}]", nameof(outputSeed));
        var (session, graph) = BackwardSession(layer, withInputGradient, null);
        var r = RunBatched(images, session, [graph.InputName, graph.SeedName], Outputs(graph),
            (start, count) => OrtValue.CreateTensorValueFromMemory(outputSeed.Data[(start * classes)..((start + count) * classes)], [count, classes]));
        return new GradientResult(r[0], r[1], r[2], withInputGradient ? r[3] : null);
    }

    /// <summary>One run: the targeted graph finds each image's class and builds the seed itself.</summary>
    public GradientResult Backward(FloatTensor images, GradientTarget target, string layer, bool withInputGradient)
    {
        ArgumentNullException.ThrowIfNull(target);
        CheckLayer(layer);
        _owner.CheckImages(images);
        int n = images.Shape[0], classes = _owner.Card.ClassCount;
        if (target.Classes.Length != n) throw new ArgumentException($"target has {target.Classes.Length} classes for {n} images", nameof(target));
        foreach (int c in target.Classes)
            if (c != GradientTarget.Predicted && (c < 0 || c >= classes))
                throw new ArgumentOutOfRangeException(nameof(target), c, $"model {_owner.Card.Id} has classes 0..{classes - 1}");
        var (session, graph) = BackwardSession(layer, withInputGradient, target.Objective);
        var wanted = target.Classes.Select(c => (long)c).ToArray();
        var r = RunBatched(images, session, [graph.InputName, graph.TargetName!], [.. Outputs(graph), graph.ClassesName!],
            (start, count) => OrtValue.CreateTensorValueFromMemory(wanted[start..(start + count)], [count]));
        return new GradientResult(r[0], r[1], r[2], withInputGradient ? r[3] : null, r[^1].Data.Select(v => (int)v).ToArray());
    }

    private (InferenceSession Session, BackwardGraph Graph) BackwardSession(string layer, bool withInputGradient, GradientObjective? objective) =>
        _backward.GetOrAdd((layer, withInputGradient, objective), key => new(() =>
        {
            var g = BackwardGraphBuilder.Build(_owner.Model, _owner.InputName, _owner.OutputName, key.Layer, key.Input, [1, 3, H, W]);
            if (key.Objective is { } o) g = BackwardGraphBuilder.Targeted(g, o);
            return (_owner.NewSession(g.Model.ToByteArray()), g);
        })).Value;

    private static string[] Outputs(BackwardGraph graph) => graph.InputGradientName == null
        ? [graph.OutputName, graph.ActivationName, graph.LayerGradientName]
        : [graph.OutputName, graph.ActivationName, graph.LayerGradientName, graph.InputGradientName];

    /// <summary>
    /// Runs the whole batch at once, or item by item when the graph has a fixed batch of one. <paramref name="extra"/>
    /// makes the second input for images [start, start + count). Integer outputs come back as float tensors.
    /// </summary>
    private List<FloatTensor> RunBatched(FloatTensor images, InferenceSession session, string[] inputNames,
        string[] outputNames, Func<int, int, OrtValue>? extra = null)
    {
        int n = images.Shape[0];
        int per = 3 * H * W;
        var chunks = _owner.FixedBatchOfOne ? Enumerable.Range(0, n).Select(i => (Start: i, Count: 1)).ToArray() : [(0, n)];
        var parts = new List<(int[] Shape, float[] Data)>[outputNames.Length];
        for (int k = 0; k < parts.Length; k++) parts[k] = [];
        foreach (var (start, count) in chunks)
        {
            // The whole batch is passed in place (no copy: explainers call this hundreds of times per explanation).
            using var x = count == n && images.Data.Length == n * per
                ? OrtValue.CreateTensorValueFromMemory(images.Data, [count, 3, H, W])
                : OrtValue.CreateTensorValueFromMemory(images.Data[(start * per)..((start + count) * per)], [count, 3, H, W]);
            var inputs = new List<OrtValue> { x };
            OrtValue? s = extra?.Invoke(start, count);
            if (s != null) inputs.Add(s);
            try
            {
                using var run = new RunOptions();
                using var outs = session.Run(run, inputNames, inputs, outputNames);
                for (int k = 0; k < outputNames.Length; k++)
                {
                    var info = outs[k].GetTensorTypeAndShape();
                    float[] data = info.ElementDataType == TensorElementType.Int64
                        ? outs[k].GetTensorDataAsSpan<long>().ToArray().Select(v => (float)v).ToArray()
                        : outs[k].GetTensorDataAsSpan<float>().ToArray();
                    parts[k].Add((info.Shape.Select(d => (int)d).ToArray(), data));
                }
            }
            finally { s?.Dispose(); }
        }
        var result = new List<FloatTensor>();
        foreach (var p in parts)
        {
            if (p.Count == 1) { result.Add(new FloatTensor(p[0].Shape, p[0].Data)); continue; }
            int[] shape = p.Count == 0 ? [0] : (int[])p[0].Shape.Clone();
            shape[0] = n;
            result.Add(new FloatTensor(shape, p.SelectMany(x => x.Data).ToArray()));
        }
        return result;
    }

    public void Dispose()
    {
        foreach (var l in _backward.Values) if (l.IsValueCreated) l.Value.Session.Dispose();
        foreach (var l in _forward.Values) if (l.IsValueCreated) l.Value.Dispose();
        foreach (var l in _scaled.Values) if (l.IsValueCreated) l.Value.Dispose();
    }
}
