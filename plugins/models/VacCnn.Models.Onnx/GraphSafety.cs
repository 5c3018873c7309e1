using System.Globalization;
using Google.Protobuf;
using Onnx;

namespace VacCnn.Models.Onnx;

/// <summary>
/// Checks an untrusted ONNX graph before anything walks it or hands it to ONNX Runtime: a cycle would make graph
/// walks loop, an operator of an unknown domain or a shape of absurd size would make ONNX Runtime fail late or
/// allocate without bound, and external data could point anywhere on the disk. Every problem is an
/// <see cref="InvalidDataException"/> with a message that names it. External data inside the model folder is read
/// into the graph (ONNX Runtime gets the graph as bytes, without a folder to resolve paths against).
/// </summary>
internal static class GraphSafety
{
    // Operator domains ONNX Runtime implements; "" and "ai.onnx" are the standard operators.
    private static readonly HashSet<string> KnownDomains = new(StringComparer.Ordinal) { "", "ai.onnx", "ai.onnx.ml", "com.microsoft" };

    /// <summary>Largest single dimension a declared shape may have (more than any image or channel count).</summary>
    public const long MaxDimension = 1L << 31;

    /// <summary>Runs every check; <paramref name="maxBytes"/> bounds each tensor and all weights together.</summary>
    public static void Check(ModelProto model, string folder, long maxBytes)
    {
        var graph = model.Graph;
        foreach (var node in graph.Node)
        {
            string domain = node.Domain ?? "";
            if (!KnownDomains.Contains(domain))
                throw new InvalidDataException($"node '{node.Name}' uses operator '{node.OpType}' of domain '{domain}', which ONNX Runtime does not provide (unknown operator)");
        }
        CheckAcyclic(graph);

        long total = 0;
        foreach (var t in graph.Initializer)
        {
            if (t.DataLocation == TensorProto.Types.DataLocation.External) InlineExternal(t, folder, maxBytes);
            total += CheckTensor(t, $"initializer '{t.Name}'", maxBytes);
            if (total > maxBytes)
                throw new InvalidDataException($"the initializers declare more than {maxBytes} bytes in all (size limit; raise VACCNN_MAX_MODEL_MB if this is a real model)");
        }
        foreach (var node in graph.Node)
            foreach (var a in node.Attribute)
            {
                if (a.T != null) CheckTensor(a.T, $"attribute '{a.Name}' of node '{node.Name}'", maxBytes);
                foreach (var t in a.Tensors) CheckTensor(t, $"attribute '{a.Name}' of node '{node.Name}'", maxBytes);
            }
        foreach (var v in graph.Input.Concat(graph.Output).Concat(graph.ValueInfo)) CheckDeclaredShape(v, maxBytes);
        CheckShapeInputs(graph, maxBytes);
    }

    /// <summary>Kahn's algorithm over the main graph: every node must become ready once its inputs exist.</summary>
    private static void CheckAcyclic(GraphProto graph)
    {
        var producer = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < graph.Node.Count; i++)
            foreach (var o in graph.Node[i].Output.Where(o => o.Length > 0))
                if (!producer.TryAdd(o, i))
                    throw new InvalidDataException($"tensor '{o}' is produced by two nodes ('{graph.Node[producer[o]].Name}' and '{graph.Node[i].Name}'); an ONNX graph assigns each tensor once");
        var pending = new int[graph.Node.Count];
        var consumers = new List<int>[graph.Node.Count];
        for (int i = 0; i < graph.Node.Count; i++)
        {
            consumers[i] = [];
        }
        for (int i = 0; i < graph.Node.Count; i++)
            foreach (var input in graph.Node[i].Input.Where(x => x.Length > 0).Distinct())
                if (producer.TryGetValue(input, out int p))
                {
                    pending[i]++;
                    consumers[p].Add(i);
                }
        var ready = new Queue<int>(Enumerable.Range(0, graph.Node.Count).Where(i => pending[i] == 0));
        int visited = 0;
        while (ready.Count > 0)
        {
            int n = ready.Dequeue();
            visited++;
            foreach (int c in consumers[n])
                if (--pending[c] == 0) ready.Enqueue(c);
        }
        if (visited != graph.Node.Count)
        {
            var stuck = Enumerable.Range(0, graph.Node.Count).Where(i => pending[i] > 0).Take(5).Select(i => $"'{graph.Node[i].Name}' ({graph.Node[i].OpType})");
            throw new InvalidDataException($"the graph contains a cycle: nodes {string.Join(", ", stuck)} depend on their own outputs");
        }
    }

    private static long CheckTensor(TensorProto t, string what, long maxBytes)
    {
        if (t.Dims.Any(d => d < 0 || d > MaxDimension))
            throw new InvalidDataException($"{what} declares an absurd shape [{string.Join(",", t.Dims)}]");
        long size = ElementSize(t.DataType);
        long declared = t.Dims.Aggregate(1L, (a, d) => d == 0 || a <= maxBytes ? a * d : a);
        if (declared > maxBytes / size)
            throw new InvalidDataException($"{what} declares [{string.Join(",", t.Dims)}], over {maxBytes} bytes (size limit; raise VACCNN_MAX_MODEL_MB if this is a real model)");
        long bytes = declared * size;
        if (t.RawData.Length > 0 && t.DataType is not 8 /* string */ && t.RawData.Length != bytes)
            throw new InvalidDataException($"{what} declares [{string.Join(",", t.Dims)}] ({bytes} bytes) but holds {t.RawData.Length} bytes");
        return bytes;
    }

    private static void CheckDeclaredShape(ValueInfoProto v, long maxBytes)
    {
        var dims = v.Type?.TensorType?.Shape?.Dim;
        if (dims == null) return;
        var fixedDims = dims.Where(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue).Select(d => d.DimValue).ToList();
        if (fixedDims.Any(d => d < 0 || d > MaxDimension) || fixedDims.Aggregate(1.0, (a, d) => a * d) * 4 > maxBytes)
            throw new InvalidDataException($"tensor '{v.Name}' declares an absurd shape [{string.Join(",", dims.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue.ToString(CultureInfo.InvariantCulture) : d.DimParam))}]");
    }

    /// <summary>Operators that allocate an output of a shape given as data: a constant shape must be of sane size.</summary>
    private static void CheckShapeInputs(GraphProto graph, long maxBytes)
    {
        var constants = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        foreach (var node in graph.Node.Where(n => n.OpType is "ConstantOfShape" or "Expand" or "Tile" or "Resize" && n.Input.Count > 0))
        {
            string shapeInput = node.OpType switch { "ConstantOfShape" => node.Input[0], "Resize" => node.Input.Count > 3 ? node.Input[3] : "", _ => node.Input.Count > 1 ? node.Input[1] : "" };
            if (!constants.TryGetValue(shapeInput, out var t) || t.DataType != OnnxTensors.Int64) continue;
            double elements = OnnxTensors.ReadAsDoubles(t).Aggregate(1.0, (a, d) => a * Math.Max(d, 1));
            if (elements * 4 > maxBytes)
                throw new InvalidDataException($"node '{node.Name}' ({node.OpType}) would allocate a tensor of {elements:G3} elements, over {maxBytes} bytes (size limit)");
        }
    }

    /// <summary>Reads a tensor's external data into it, if the file is inside <paramref name="folder"/>.</summary>
    private static void InlineExternal(TensorProto t, string folder, long maxBytes)
    {
        var entries = t.ExternalData.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
        if (!entries.TryGetValue("location", out string? location) || string.IsNullOrWhiteSpace(location))
            throw new InvalidDataException($"initializer '{t.Name}' uses external data without a location");
        string root = Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        string path = Path.GetFullPath(Path.Combine(folder, location));
        // Symbolic links are followed to their final target, which must be inside the folder too.
        string real = File.Exists(path) && new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true) is { } target ? target.FullName : path;
        if (Path.IsPathRooted(location) || !path.StartsWith(root, StringComparison.Ordinal) || !real.StartsWith(root, StringComparison.Ordinal))
            throw new InvalidDataException($"initializer '{t.Name}' names external data '{location}' outside its model folder; only files inside the folder are read");
        if (!File.Exists(path)) throw new InvalidDataException($"initializer '{t.Name}': external data file '{location}' does not exist");
        long offset = entries.TryGetValue("offset", out string? o) && long.TryParse(o, out long ov) ? ov : 0;
        long fileLength = new FileInfo(path).Length;
        long length = entries.TryGetValue("length", out string? l) && long.TryParse(l, out long lv) ? lv : fileLength - offset;
        if (offset < 0 || length < 0 || offset + length > fileLength)
            throw new InvalidDataException($"initializer '{t.Name}': external data range {offset}+{length} lies outside '{location}' ({fileLength} bytes)");
        if (length > maxBytes) throw new InvalidDataException($"initializer '{t.Name}': external data of {length} bytes is over {maxBytes} bytes (size limit)");
        var bytes = new byte[length];
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            fs.Seek(offset, SeekOrigin.Begin);
            fs.ReadExactly(bytes);
        }
        t.RawData = ByteString.CopyFrom(bytes);
        t.ExternalData.Clear();
        t.DataLocation = TensorProto.Types.DataLocation.Default;
    }

    // Bytes per element of TensorProto.DataType; unknown and variable-size types count as 1 (bounded by the file).
    private static long ElementSize(int type) => type switch
    {
        1 or 6 or 12 => 4,          // float, int32, uint32
        7 or 11 or 13 or 14 => 8,   // int64, double, uint64, complex64
        15 => 16,                   // complex128
        5 or 4 or 10 or 16 => 2,    // int16, uint16, float16, bfloat16
        _ => 1,
    };
}
