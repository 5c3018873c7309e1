using System.Globalization;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using VacCnn.Contracts;

namespace VacCnn.Models.Onnx;

/// <summary>
/// Every folder <c>&lt;modelsRoot&gt;/&lt;id&gt;/</c> holding <c>model.onnx</c> (or a <c>model.json</c> naming another
/// ONNX file) becomes an <see cref="OnnxClassifier"/>. See plugins/models/README.md for the folder convention.
/// </summary>
public sealed class OnnxModelSource : IModelSource
{
    /// <summary>Default ONNX file name in a model folder.</summary>
    public const string DefaultOnnxFile = "model.onnx";

    // Class counts of the label sets we know; a manifest naming one of these must match the graph's output.
    private static readonly string[] NchwLabels = ["N", "C", "H", "W"];

    private static readonly Dictionary<string, int> KnownLabelSets = new(StringComparer.OrdinalIgnoreCase)
    {
        ["imagenet-1k"] = 1000,
    };

    /// <inheritdoc />
    public string Name => "ONNX folder models";

    /// <summary>
    /// Size limit for untrusted models: the ONNX file, any one tensor it declares and all its weights together.
    /// Default 2 GiB (protobuf's own limit); the environment variable <c>VACCNN_MAX_MODEL_MB</c> changes it.
    /// </summary>
    public long MaxModelBytes { get; init; } =
        long.TryParse(Environment.GetEnvironmentVariable("VACCNN_MAX_MODEL_MB"), out long mb) && mb > 0 ? mb << 20 : 2L << 30;

    /// <summary>Fold de-quantized weights and other constant subgraphs into float initializers at load time (the file
    /// on disk is untouched). On by default; switch off to measure the speed-up or to run the graph exactly as stored.</summary>
    public bool FoldConstants { get; init; } = true;

    /// <inheritdoc />
    public IReadOnlyList<ModelLoadResult> Discover(ModelSourceContext context)
    {
        var results = new List<ModelLoadResult>();
        if (!Directory.Exists(context.ModelsRoot))
        {
            context.Log($"ONNX models: folder {context.ModelsRoot} does not exist; no models");
            return results;
        }
        IEnumerable<string> folders;
        try { folders = Directory.GetDirectories(context.ModelsRoot).Order(StringComparer.Ordinal).ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [new ModelLoadResult("(onnx)", context.ModelsRoot, null, $"cannot list {context.ModelsRoot}: {e.Message}")];
        }
        foreach (string folder in folders)
        {
            if (!File.Exists(Path.Combine(folder, DefaultOnnxFile)) && !File.Exists(Path.Combine(folder, ModelManifest.FileName)))
                continue; // not a model folder
            results.Add(LoadFolder(folder, context));
        }
        return results;
    }

    /// <summary>Loads one model folder; never throws for a bad model (the result carries the error).</summary>
    public ModelLoadResult LoadFolder(string folder, ModelSourceContext context)
    {
        string id = Path.GetFileName(Path.TrimEndingDirectorySeparator(folder));
        try
        {
            var classifier = new FolderLoader(folder, id, context, FoldConstants, MaxModelBytes).Load();
            return new ModelLoadResult(classifier.Card.Id, folder, classifier, null);
        }
        catch (ModelLoadException e)
        {
            context.Log($"model {e.ModelId}: failed to load: {e.Message}");
            return new ModelLoadResult(e.ModelId, folder, null, $"model {e.ModelId}: {e.Message}");
        }
        catch (Exception e)
        {
            context.Log($"model {id}: failed to load: {e.GetType().Name}: {e.Message}");
            return new ModelLoadResult(id, folder, null, $"model {id}: {e.GetType().Name}: {e.Message}");
        }
    }

    private sealed class ModelLoadException(string modelId, string message, Exception? inner = null) : Exception(message, inner)
    {
        public string ModelId { get; } = modelId;
    }

    /// <summary>The steps of loading one folder; every failure becomes a <see cref="ModelLoadException"/>.</summary>
    private sealed class FolderLoader(string folder, string folderId, ModelSourceContext context, bool fold, long maxBytes)
    {
        private readonly List<string> _warnings = [];
        private string _id = folderId;

        private ModelLoadException Fail(string message, Exception? inner = null) => new(_id, message, inner);

        /// <summary>An assumption: shown on the model card and logged loudly.</summary>
        private void Assume(string text)
        {
            _warnings.Add(text);
            context.Log($"model {_id}: {text}");
        }

        public OnnxClassifier Load()
        {
            // 1. Manifest (optional).
            ModelManifest? manifest = null;
            string manifestPath = Path.Combine(folder, ModelManifest.FileName);
            if (File.Exists(manifestPath))
            {
                try { manifest = ModelManifest.Parse(File.ReadAllText(manifestPath)); }
                catch (FormatException e) { throw Fail(e.Message, e); }
                if (manifest.Id != null) _id = manifest.Id;
            }

            string onnxName = manifest?.Onnx ?? DefaultOnnxFile;
            string onnxPath = Path.Combine(folder, onnxName);
            if (!File.Exists(onnxPath))
                throw Fail(manifest != null
                    ? $"{ModelManifest.FileName} names the ONNX file '{onnxName}' but there is no such file in {folder}"
                    : $"no {onnxName} in {folder}");
            if (manifest == null)
                Assume($"no {ModelManifest.FileName}, assumed the values below (inferred from the graph or defaults); add a {ModelManifest.FileName} to make them explicit");

            // 2. Parse the graph (bounded in size) and check it before anything walks it.
            long fileBytes = new FileInfo(onnxPath).Length;
            if (fileBytes > maxBytes)
                throw Fail($"{onnxName} has {fileBytes} bytes, over the size limit of {maxBytes} bytes (raise VACCNN_MAX_MODEL_MB if this is a real model)");
            byte[] bytes = File.ReadAllBytes(onnxPath);
            ModelProto model;
            try { model = ModelProto.Parser.ParseFrom(bytes); }
            catch (InvalidProtocolBufferException e)
            {
                throw Fail($"{onnxName} is not a valid ONNX model (not an ONNX file, or truncated/corrupt): {e.Message}", e);
            }
            if (model.Graph == null || model.Graph.Node.Count == 0 || model.OpsetImport.Count == 0)
                throw Fail($"{onnxName} is not a valid ONNX model: it has no graph, no nodes or no opset import");
            var graph = model.Graph;
            try { GraphSafety.Check(model, folder, maxBytes); }
            catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException or NotSupportedException)
            {
                throw Fail($"{onnxName} is rejected: {e.Message}", e);
            }

            // 3. Input.
            var initializerNames = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
            var realInputs = graph.Input.Where(i => !initializerNames.Contains(i.Name)).ToList();
            ValueInfoProto input;
            if (manifest?.Input?.Name is { } inName)
                input = realInputs.FirstOrDefault(i => i.Name == inName)
                        ?? throw Fail($"input '{inName}' from {ModelManifest.FileName} is not an input of the graph (inputs: {Names(realInputs)})");
            else
            {
                if (realInputs.Count != 1) throw Fail($"the graph has {realInputs.Count} inputs ({Names(realInputs)}); name one in {ModelManifest.FileName} input.name");
                input = realInputs[0];
                if (manifest != null) Assume($"input.name missing, assumed the graph's only input '{input.Name}'");
            }
            var inType = input.Type?.TensorType ?? throw Fail($"input '{input.Name}' is not a tensor");
            if (inType.ElemType != OnnxTensors.Float) throw Fail($"input '{input.Name}' has element type {inType.ElemType}, only float32 (1) is supported");
            var dims = inType.Shape?.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue : (long?)null).ToArray()
                       ?? throw Fail($"input '{input.Name}' has no declared shape; a 4-D [N,3,H,W] input is required");
            if (dims.Length != 4) throw Fail($"input '{input.Name}' is {dims.Length}-D, a 4-D [N,3,H,W] (NCHW) input is required");
            foreach (var (d, label) in dims.Zip(NchwLabels))
                if (d is { } v && (v < 1 || v > 4096)) throw Fail($"input '{input.Name}' declares an absurd dimension {label}={v} (allowed 1..4096)");
            if (dims[1] is { } c && c != 3) throw Fail($"input '{input.Name}' has {c} channels, 3 are required");
            bool fixedBatchOfOne = dims[0] == 1;
            if (dims[0] is > 1) throw Fail($"input '{input.Name}' has a fixed batch size {dims[0]}; only a symbolic batch or 1 is supported");

            int? manifestSize = manifest?.Input?.Size;
            int cropH, cropW;
            if (manifestSize is { } size)
            {
                if ((dims[2] is { } h && h != size) || (dims[3] is { } w && w != size))
                    throw Fail($"{ModelManifest.FileName} says input.size {size} but the graph input is {Dim(dims[2])}×{Dim(dims[3])}");
                cropH = cropW = size;
            }
            else
            {
                cropH = (int)(dims[2] ?? 224);
                cropW = (int)(dims[3] ?? 224);
                Assume(dims[2] == null || dims[3] == null
                    ? $"input size unknown (symbolic H/W), assumed {cropH}×{cropW}"
                    : $"input size {cropH}×{cropW} taken from the graph input '{input.Name}'");
            }
            int resize = manifest?.Input?.Resize ?? (int)Math.Round(Math.Min(cropH, cropW) / 0.875);
            if (manifest?.Input?.Resize == null) Assume($"resize shorter side assumed {resize} (= crop/0.875)");
            var channels = manifest?.Input?.Channels is { } chs ? ModelManifest.ParseChannels(chs)!.Value : ChannelOrder.Rgb;
            if (manifest?.Input?.Channels == null) Assume("channel order assumed RGB");
            var torch = PreprocessingSpec.TorchVision();
            float[] mean = manifest?.Input?.Mean?.Select(v => (float)v).ToArray() ?? torch.Mean;
            float[] std = manifest?.Input?.Std?.Select(v => (float)v).ToArray() ?? torch.Std;
            if (manifest?.Input?.Mean == null || manifest.Input.Std == null)
                Assume("mean/std assumed ImageNet torchvision values (mean 123.675,116.28,103.53; std 58.395,57.12,57.375 in 0..255 units)");

            // 4. Output.
            ValueInfoProto output;
            if (manifest?.Output?.Name is { } outName)
                output = graph.Output.FirstOrDefault(o => o.Name == outName)
                         ?? throw Fail($"output '{outName}' from {ModelManifest.FileName} is not an output of the graph (outputs: {Names(graph.Output)})");
            else
            {
                if (graph.Output.Count == 0) throw Fail("the graph has no outputs");
                output = graph.Output[0];
                Assume(graph.Output.Count == 1
                    ? $"output assumed to be the graph's only output '{output.Name}'"
                    : $"output assumed to be the graph's first output '{output.Name}' of {graph.Output.Count}");
            }
            var kind = manifest?.Output?.Kind is { } k ? ModelManifest.ParseKind(k)!.Value : OutputKind.Logits;
            if (manifest?.Output?.Kind == null) Assume("output assumed to be logits (softmax applied)");

            // 5. Parameters from the stored graph; then fold constants in memory.
            long parameters = GraphStatistics.CountParameters(graph);
            if (fold)
            {
                try
                {
                    var r = ConstantFolder.Fold(graph);
                    context.Log($"model {_id}: folded {r.DequantizeLinear} DequantizeLinear and {r.Identity} Identity nodes of constants into float initializers"
                                + (r.KeptQdq ? " (activations are quantized too: weight DequantizeLinear kept for ONNX Runtime's integer kernels)" : ""));
                }
                catch (Exception e) when (e is InvalidDataException or NotSupportedException)
                {
                    throw Fail($"cannot fold the constant weights: {e.Message}", e);
                }
            }

            // 6. One batch-1 run on zeros with the intermediate tensors MAC counting needs as extra outputs:
            //    exact shapes without re-implementing ONNX shape inference; also proves the graph runs.
            var shapes = MeasureShapes(model, input.Name, output.Name, cropH, cropW);
            long[] outShape = shapes[output.Name];
            if (outShape.Length < 2) throw Fail($"output '{output.Name}' has shape [{string.Join(",", outShape)}]; [N, classes] is expected");
            long classCount = outShape.Skip(1).Aggregate(1L, (a, d) => a * d);
            long macs = GraphStatistics.CountMacs(graph, shapes);

            string labels = manifest?.Labels ?? (classCount == 1000 ? "imagenet-1k" : $"unknown-{classCount}");
            if (manifest?.Labels == null) Assume($"label set assumed '{labels}' ({classCount} classes)");
            if (KnownLabelSets.TryGetValue(labels, out int expected) && expected != classCount)
                throw Fail($"output '{output.Name}' has {classCount} classes but label set '{labels}' has {expected}");
            else if (!KnownLabelSets.ContainsKey(labels))
                Assume($"label set '{labels}' is not known to this plugin; its class count was not checked");

            string? target = manifest?.TargetLayer;
            if (target != null && !graph.Node.Any(n => n.Output.Contains(target)))
            {
                Assume($"targetLayer '{target}' is not a tensor of the graph; no default target layer");
                target = null;
            }

            // 7. The session used for inference.
            var (session, provider) = CreateSession(model.ToByteArray());
            context.Log($"model {_id} runs on {provider}");

            var card = new ModelCard(
                _id,
                manifest?.Name ?? _id,
                manifest?.Family ?? "unknown",
                parameters,
                macs,
                (int)classCount,
                labels,
                new PreprocessingSpec(resize, cropW, cropH, channels, mean, std),
                kind,
                target,
                manifest?.Source,
                manifest?.Licence,
                _warnings.ToArray());
            return new OnnxClassifier(card, session, model, input.Name, output.Name, fixedBatchOfOne, provider, fold, context.InferenceThreads);
        }

        private Dictionary<string, long[]> MeasureShapes(ModelProto model, string inputName, string outputName, int h, int w)
        {
            var graph = model.Graph;
            var existing = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
            var graphInputs = graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
            var queries = GraphStatistics.ShapeQueries(graph).Where(n => !graphInputs.Contains(n)).ToList();
            var added = new List<ValueInfoProto>();
            // ONNX Runtime infers the type of an output declared by name only.
            foreach (string name in queries.Where(n => !existing.Contains(n)))
            {
                var v = new ValueInfoProto { Name = name };
                graph.Output.Add(v);
                added.Add(v);
            }
            byte[] probeBytes;
            try { probeBytes = model.ToByteArray(); }
            finally { foreach (var v in added) graph.Output.Remove(v); }

            var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal) { [inputName] = [1, 3, h, w] };
            try
            {
                using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
                using var session = new InferenceSession(probeBytes, options);
                var fetch = queries.Append(outputName).Distinct().ToArray();
                using var x = OrtValue.CreateTensorValueFromMemory(new float[3 * h * w], [1, 3, h, w]);
                using var runOptions = new RunOptions();
                using var outputs = session.Run(runOptions, [inputName], [x], fetch);
                for (int i = 0; i < fetch.Length; i++) shapes[fetch[i]] = outputs[i].GetTensorTypeAndShape().Shape;
            }
            catch (OnnxRuntimeException e)
            {
                throw Fail($"ONNX Runtime cannot load or run the graph: {e.Message}", e);
            }
            return shapes;
        }

        private (InferenceSession Session, string Provider) CreateSession(byte[] bytes)
        {
            SessionOptions NewOptions() => SessionSettings.Create(context.InferenceThreads);
            // In Auto mode a machine without a usable CUDA provider is found out once per process: retrying for every
            // model only repeated ONNX Runtime's error block in the log.
            if (context.Device == ExecutionDevice.Cuda || (context.Device == ExecutionDevice.Auto && s_cudaUnusable == null))
            {
                var options = NewOptions();
                try
                {
                    options.AppendExecutionProvider_CUDA(0);
                    return (new InferenceSession(bytes, options), "CUDAExecutionProvider");
                }
                catch (Exception e) when (e is OnnxRuntimeException or DllNotFoundException or EntryPointNotFoundException)
                {
                    if (context.Device == ExecutionDevice.Cuda)
                        throw Fail($"the CUDA execution provider is not usable here (device Cuda was requested): {e.Message}", e);
                    s_cudaUnusable = FirstLine(e.Message);
                    context.Log($"model {_id}: CUDA execution provider not usable ({s_cudaUnusable}); falling back to CPU");
                }
                finally { options.Dispose(); }
            }
            else if (context.Device == ExecutionDevice.Auto)
                context.Log($"model {_id}: CUDA execution provider not usable ({s_cudaUnusable}, found at an earlier model); falling back to CPU");
            using var cpu = NewOptions();
            try { return (new InferenceSession(bytes, cpu), "CPUExecutionProvider"); }
            catch (OnnxRuntimeException e) { throw Fail($"ONNX Runtime cannot create a session: {e.Message}", e); }
        }

        private static string FirstLine(string s) => s.Split('\n')[0].Trim();

        /// <summary>Why CUDA could not be used in this process (set on the first failure in Auto mode), or null.</summary>
        private static volatile string? s_cudaUnusable;
        private static string Dim(long? d) => d?.ToString(CultureInfo.InvariantCulture) ?? "?";
        private static string Names(IEnumerable<ValueInfoProto> v) => string.Join(", ", v.Select(x => $"'{x.Name}'"));
    }
}
