using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using static VacCnn.Models.Onnx.Backward.OnnxBuild;

namespace VacCnn.Models.Onnx.Backward;

/// <summary>An augmented model: the forward graph plus its backward pass written as ordinary ONNX nodes.</summary>
/// <param name="Model">The augmented model.</param>
/// <param name="InputName">The image input.</param>
/// <param name="OutputName">The scores.</param>
/// <param name="SeedName">Extra input [N, classes]: the gradient of the scores.</param>
/// <param name="ActivationName">Extra output: the target tensor.</param>
/// <param name="LayerGradientName">Extra output: gradient of Σ seed·scores w.r.t. the target.</param>
/// <param name="InputGradientName">Extra output: gradient w.r.t. the input, when asked for.</param>
/// <param name="TargetName">In a targeted graph (<see cref="BackwardGraphBuilder.Targeted"/>): the int64 [N] class input
/// that replaces the seed input (−1 = the image's top-1).</param>
/// <param name="ClassesName">In a targeted graph: the int64 [N] output of the classes differentiated.</param>
public sealed record BackwardGraph(ModelProto Model, string InputName, string OutputName, string SeedName,
    string ActivationName, string LayerGradientName, string? InputGradientName, string? TargetName = null, string? ClassesName = null);

/// <summary>
/// Reverse-mode differentiation of an ONNX graph into ONNX nodes (ONNX Runtime has no backward pass outside its
/// training package). The nodes between the start tensors (target, and input when its gradient is wanted) and the
/// output are visited in reverse topological order (ONNX graphs are stored topologically sorted); gradients of a
/// tensor read by several nodes are summed. Static shapes come from one probe run at batch 2 (batch 1 for fixed-batch
/// graphs), so broadcast axes over the batch are seen as 1 vs 2. Unsupported operators on the path throw
/// <see cref="NotSupportedException"/> naming the node: never a silently wrong gradient.
/// </summary>
public sealed partial class BackwardGraphBuilder
{
    /// <summary>Name of the extra seed input.</summary>
    public const string SeedName = "seed";

    /// <summary>Name of the input-gradient output.</summary>
    public const string InputGradientName = "grad_input";

    private readonly ModelProto _model;
    private readonly GraphProto _g;
    private readonly string _input, _output, _target;
    private readonly bool _withInput;
    private readonly int _elemType;
    private readonly Dictionary<string, TensorProto> _constants;
    private readonly Dictionary<string, long[]> _shapes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<string>> _grads = new(StringComparer.Ordinal);
    private readonly List<NodeProto> _emitted = [];
    private HashSet<string> _relevant = new(StringComparer.Ordinal);
    private int _counter;

    private BackwardGraphBuilder(ModelProto model, string input, string output, string target, bool withInput)
    {
        _model = model;
        _g = model.Graph;
        _input = input; _output = output; _target = target; _withInput = withInput;
        _constants = Constants(_g);
        var inInfo = _g.Input.FirstOrDefault(i => i.Name == input) ?? throw new ArgumentException($"'{input}' is not a graph input");
        _elemType = inInfo.Type?.TensorType?.ElemType ?? OnnxTensors.Float;
        if (_elemType is not (OnnxTensors.Float or OnnxTensors.Double))
            throw new NotSupportedException($"input '{input}' has element type {_elemType}; gradients need float32 or float64");
    }

    /// <summary>Builds the augmented model. <paramref name="source"/> is not modified.</summary>
    /// <param name="source">The (constant-folded) model.</param>
    /// <param name="inputName">Image input.</param>
    /// <param name="outputName">Scores output.</param>
    /// <param name="targetName">Target tensor (must be 4-D).</param>
    /// <param name="withInputGradient">Also differentiate down to the input.</param>
    /// <param name="inputShape">The input shape for one image, [1, C, H, W] (used for the shape probe).</param>
    public static BackwardGraph Build(ModelProto source, string inputName, string outputName, string targetName,
        bool withInputGradient, long[] inputShape)
    {
        var model = source.Clone();
        OpsetUpgrader.Upgrade(model);
        ForwardSimplifier.Simplify(model, new HashSet<string>(StringComparer.Ordinal) { inputName, outputName, targetName });
        var b = new BackwardGraphBuilder(model, inputName, outputName, targetName, withInputGradient);
        return b.Run(inputShape);
    }

    private BackwardGraph Run(long[] inputShape)
    {
        if (!_g.Node.Any(n => n.Output.Contains(_target)))
            throw new ArgumentException($"target '{_target}' is not a tensor produced by a node of the graph");
        if (!_g.Output.Any(o => o.Name == _output)) throw new ArgumentException($"'{_output}' is not a graph output");

        // 1. Which tensors depend on the start tensors, and which ones the output depends on (both only along
        //    differentiable edges: shape, index and setting inputs carry no gradient).
        var start = new HashSet<string>(StringComparer.Ordinal) { _target };
        if (_withInput) start.Add(_input);
        var forward = new HashSet<string>(start, StringComparer.Ordinal);
        foreach (var n in _g.Node)
        {
            if (NoGradientOps.Contains(n.OpType)) continue;
            if (!Enumerable.Range(0, n.Input.Count).Any(i => n.Input[i].Length > 0 && !IsSetting(n, i) && forward.Contains(n.Input[i]))) continue;
            for (int o = 0; o < n.Output.Count; o++)
                if (n.Output[o].Length > 0 && !IsNonDifferentiableOutput(n, o)) forward.Add(n.Output[o]);
        }
        var backward = new HashSet<string>(StringComparer.Ordinal) { _output };
        for (int k = _g.Node.Count - 1; k >= 0; k--)
        {
            var n = _g.Node[k];
            if (NoGradientOps.Contains(n.OpType) || !n.Output.Any(backward.Contains)) continue;
            for (int i = 0; i < n.Input.Count; i++)
                if (n.Input[i].Length > 0 && !IsSetting(n, i)) backward.Add(n.Input[i]);
        }
        _relevant = forward.Where(backward.Contains).ToHashSet(StringComparer.Ordinal);
        if (!_relevant.Contains(_target)) throw new ArgumentException($"the output '{_output}' does not depend on target '{_target}'");
        if (_withInput && !_relevant.Contains(_input)) throw new ArgumentException($"the output does not depend on the input '{_input}'");
        if (!_relevant.Contains(_output)) throw new ArgumentException($"the output '{_output}' does not depend on the start tensors");

        var path = _g.Node.Where(n => n.Output.Any(_relevant.Contains) && Enumerable.Range(0, n.Input.Count)
            .Any(i => !IsSetting(n, i) && _relevant.Contains(n.Input[i]))).ToList();
        foreach (var n in path)
            if (!Rules.ContainsKey(n.OpType) || !IsDefaultDomain(n))
                throw new NotSupportedException($"gradient of operator '{(IsDefaultDomain(n) ? "" : n.Domain + ".")}{n.OpType}' (node '{n.Name}') is not supported");

        // 2. Static shapes of every tensor the rules look at.
        var wanted = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in path)
        {
            foreach (var i in n.Input) if (i.Length > 0 && !_constants.ContainsKey(i)) wanted.Add(i);
            foreach (var o in n.Output) if (o.Length > 0) wanted.Add(o);
        }
        wanted.Add(_target);
        Probe(wanted, inputShape);
        ProbeSettings(path, inputShape);
        foreach (var t in _g.Initializer) _shapes.TryAdd(t.Name, t.Dims.ToArray());
        foreach (var (name, t) in _constants) _shapes.TryAdd(name, t.Dims.ToArray());
        if (_shapes[_target].Length != 4)
            throw new NotSupportedException($"target '{_target}' has shape [{string.Join(",", _shapes[_target])}]; a 4-D [N,C,H,W] feature map is required");

        // 3. Seed: d(Σ seed·y)/dy = seed, reshaped to y's shape.
        var seedInfo = new ValueInfoProto { Name = SeedName, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = _elemType } } };
        _g.Input.Add(seedInfo);
        Accumulate(_output, Op("Reshape", [SeedName, Op("Shape", [_output])]));

        // 4. Reverse sweep.
        for (int k = path.Count - 1; k >= 0; k--)
        {
            var n = path[k];
            var gOut = n.Output.Select(o => _relevant.Contains(o) ? GradientOf(o) : null).ToArray();
            if (gOut.All(x => x == null)) continue;
            var needed = Enumerable.Range(0, n.Input.Count).Where(i => n.Input[i].Length > 0 && !IsSetting(n, i) && _relevant.Contains(n.Input[i])).ToArray();
            var rule = Rules[n.OpType];
            foreach (int i in needed)
                if (!rule.Inputs.Contains(i))
                    throw new NotSupportedException($"gradient w.r.t. input {i} ('{n.Input[i]}') of {n.OpType} node '{n.Name}' is not supported (e.g. weight gradients)");
            rule.Emit(this, n, gOut, needed);
        }

        // 5. Outputs.
        string gradTarget = "grad_" + _target;
        Emit("Identity", [GradientOf(_target) ?? throw new InvalidOperationException("no gradient reached the target")], [gradTarget]);
        if (!_g.Output.Any(o => o.Name == _target)) _g.Output.Add(new ValueInfoProto { Name = _target });
        _g.Output.Add(new ValueInfoProto { Name = gradTarget });
        string? gradInput = null;
        if (_withInput)
        {
            gradInput = InputGradientName;
            Emit("Identity", [GradientOf(_input) ?? throw new InvalidOperationException("no gradient reached the input")], [gradInput]);
            _g.Output.Add(new ValueInfoProto { Name = gradInput });
        }
        _g.Node.AddRange(_emitted);
        return new BackwardGraph(_model, _input, _output, SeedName, _target, gradTarget, gradInput);
    }

    /// <summary>One run on zeros with the wanted tensors as extra outputs: exact shapes without shape inference.</summary>
    private void Probe(HashSet<string> wanted, long[] inputShape)
    {
        var fetch = wanted.Where(w => _g.Input.All(i => i.Name != w)).ToArray();
        var shape = RunProbe(fetch, inputShape, batch: 2, (name, value) => _shapes[name] = value.GetTensorTypeAndShape().Shape);
        _shapes[_input] = shape;
    }

    /// <summary>
    /// Runs the untouched model once on zeros at <paramref name="batch"/> (batch 1 for fixed-batch graphs), with
    /// <paramref name="fetch"/> as extra outputs, handing each fetched value to <paramref name="read"/> while it is
    /// alive. Returns the input shape used.
    /// </summary>
    private long[] RunProbe(string[] fetch, long[] inputShape, int batch, Action<string, OrtValue> read)
    {
        var inDims = _g.Input.First(i => i.Name == _input).Type?.TensorType?.Shape?.Dim;
        bool fixedBatch = inDims is { Count: > 0 } && inDims[0].ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue;
        long[] shape = (long[])inputShape.Clone();
        if (!fixedBatch) shape[0] = batch;
        var probe = _model.Clone();
        var existing = probe.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var w in fetch.Where(w => !existing.Contains(w))) probe.Graph.Output.Add(new ValueInfoProto { Name = w });
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new InferenceSession(probe.ToByteArray(), options);
        long count = shape.Aggregate(1L, (a, d) => a * d);
        using var x = _elemType == OnnxTensors.Double
            ? OrtValue.CreateTensorValueFromMemory(new double[count], shape)
            : OrtValue.CreateTensorValueFromMemory(new float[count], shape);
        using var runOptions = new RunOptions();
        using var outs = session.Run(runOptions, [_input], [x], fetch);
        for (int i = 0; i < fetch.Length; i++) read(fetch[i], outs[i]);
        return shape;
    }

    /// <summary>
    /// Integer settings (Slice starts/ends, Pad pads, axes) that the graph computes from shapes at run time, e.g.
    /// torch's x.chunk(2, dim=1) in ShuffleNet V2 exports Slice starts as Shape→Gather→Div. Their values are read
    /// from probe runs at two batch sizes and used as constants when they agree, i.e. when they do not depend on the
    /// batch (only the batch axis is dynamic); otherwise the rule still reports that they must be constant.
    /// </summary>
    private void ProbeSettings(List<NodeProto> path, long[] inputShape)
    {
        var names = path.SelectMany(n => Enumerable.Range(0, n.Input.Count).Where(i => IsSetting(n, i)).Select(i => n.Input[i]))
            .Where(t => t.Length > 0 && !_constants.ContainsKey(t) && t != _input)
            .Where(t => _shapes.TryGetValue(t, out var s) && s.Length <= 1 && s.Aggregate(1L, (a, d) => a * d) <= 64)
            .Distinct(StringComparer.Ordinal).ToArray();
        if (names.Length == 0) return;
        var first = ProbeValues(names, inputShape, 2);
        var second = ProbeValues(names, inputShape, 3);
        foreach (var (name, values) in first)
            if (second.TryGetValue(name, out var other) && values.SequenceEqual(other))
                _constants[name] = Int64s(name, [values.Length], values);
    }

    /// <summary>Integer values of <paramref name="names"/> at a given batch size (batch 1 for fixed-batch graphs).</summary>
    private Dictionary<string, long[]> ProbeValues(string[] names, long[] inputShape, int batch)
    {
        var result = new Dictionary<string, long[]>(StringComparer.Ordinal);
        RunProbe(names, inputShape, batch, (name, value) =>
        {
            var type = value.GetTensorTypeAndShape().ElementDataType;
            if (type == TensorElementType.Int64) result[name] = value.GetTensorDataAsSpan<long>().ToArray();
            else if (type == TensorElementType.Int32) result[name] = value.GetTensorDataAsSpan<int>().ToArray().Select(v => (long)v).ToArray();
        });
        return result;
    }

    // ---- gradient bookkeeping -------------------------------------------------------------------------------

    private void Accumulate(string tensor, string grad)
    {
        if (!_grads.TryGetValue(tensor, out var list)) _grads[tensor] = list = [];
        list.Add(grad);
    }

    /// <summary>The total gradient of a tensor (all its consumers are already processed): one Sum for fan-out.</summary>
    private string? GradientOf(string tensor)
    {
        if (!_grads.TryGetValue(tensor, out var list) || list.Count == 0) return null;
        if (list.Count > 1)
        {
            string sum = Op("Sum", list.ToArray());
            list.Clear();
            list.Add(sum);
        }
        return list[0];
    }

    // ---- emission -----------------------------------------------------------------------------------------

    private string Fresh(string hint) => $"vacgrad/{hint}_{_counter++}";

    private void Emit(string op, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = op, Name = Fresh("n_" + op) };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attributes);
        _emitted.Add(n);
    }

    private string Op(string op, string[] inputs, params AttributeProto[] attributes)
    {
        string y = Fresh(op);
        Emit(op, inputs, [y], attributes);
        return y;
    }

    private string Real(long[] dims, double[] values)
    {
        string name = Fresh("const");
        _g.Initializer.Add(OnnxBuild.Real(name, _elemType, dims, values));
        return name;
    }

    private string Scalar(double v) => Real([], [v]);

    private string I64(params long[] values)
    {
        string name = Fresh("i64");
        _g.Initializer.Add(Int64s(name, [values.Length], values));
        return name;
    }

    /// <summary>Zeros shaped like <paramref name="like"/> (ConstantOfShape of its runtime shape).</summary>
    private string ZerosLike(string like) =>
        Op("ConstantOfShape", [Op("Shape", [like])], Tensor("value", OnnxBuild.Real("", _elemType, [1], [0])));

    private long[] ShapeOf(string tensor) =>
        _shapes.TryGetValue(tensor, out var s) ? s : throw new InvalidOperationException($"shape of '{tensor}' unknown");

    private double[] ConstValues(NodeProto n, int index, string what)
    {
        if (index >= n.Input.Count || n.Input[index].Length == 0) throw new InvalidOperationException("missing input");
        return _constants.TryGetValue(n.Input[index], out var t)
            ? OnnxTensors.ReadAsDoubles(t)
            : throw new NotSupportedException($"{n.OpType} node '{n.Name}': {what} must be a constant for its gradient");
    }

    private long[] ConstInts(NodeProto n, int index, string what) => ConstValues(n, index, what).Select(v => (long)v).ToArray();

    private bool HasInput(NodeProto n, int index) => index < n.Input.Count && n.Input[index].Length > 0;

    /// <summary>
    /// Sums a gradient of <paramref name="outTensor"/>'s shape back to <paramref name="operand"/>'s shape (numpy
    /// broadcasting: missing leading axes and axes where the operand has 1 were broadcast).
    /// </summary>
    private string ReduceTo(string g, string outTensor, string operand)
    {
        long[] o = ShapeOf(outTensor), a = ShapeOf(operand);
        int lead = o.Length - a.Length;
        var axes = new List<long>();
        for (int i = 0; i < o.Length; i++)
            if (i < lead || (a[i - lead] == 1 && o[i] != 1)) axes.Add(i);
        if (axes.Count == 0 && lead == 0) return g;
        string r = axes.Count == 0 ? g : Op("ReduceSum", [g, I64(axes.ToArray())], Int("keepdims", 1));
        return lead == 0 ? r : Op("Reshape", [r, Op("Shape", [operand])]);
    }

    private string ReshapeLike(string g, string like) => Op("Reshape", [g, Op("Shape", [like])]);

    // ---- which edges carry gradients ----------------------------------------------------------------------

    /// <summary>Ops whose outputs never carry a gradient (shapes, indices, booleans, random numbers).</summary>
    private static readonly HashSet<string> NoGradientOps = new(StringComparer.Ordinal)
    {
        "Shape", "Size", "ConstantOfShape", "NonZero", "ArgMax", "ArgMin", "Equal", "Greater", "Less", "GreaterOrEqual",
        "LessOrEqual", "Not", "And", "Or", "Xor", "Range", "EyeLike", "RandomNormalLike", "RandomUniformLike", "Constant",
        "IsNaN", "IsInf", "Sign", "Floor", "Ceil", "Round",
    };

    /// <summary>Inputs that are settings (shapes, axes, pads, indices, quantization parameters), not data.</summary>
    private static bool IsSetting(NodeProto n, int i) => n.OpType switch
    {
        "Reshape" or "Expand" or "Tile" or "Squeeze" or "Unsqueeze" or "Split" or "ReduceMean" or "ReduceSum"
            or "ReduceMax" or "ReduceMin" or "ReduceProd" or "Gather" or "GatherElements" or "GatherND" or "TopK" or "OneHot" => i >= 1,
        "Slice" or "Resize" or "Upsample" => i >= 1,
        "Pad" => i == 1 || i == 3,
        "QuantizeLinear" or "DequantizeLinear" => i >= 1,
        "Dropout" => i >= 1,
        "ScatterElements" or "ScatterND" => i == 1,
        "Where" => i == 0,
        _ => false,
    };

    private static bool IsNonDifferentiableOutput(NodeProto n, int o) => o > 0 && n.OpType is "MaxPool" or "Dropout" or "TopK" or "BatchNormalization";
}
