using Google.Protobuf;
using Onnx;

namespace VacCnn.Models.Onnx;

/// <summary>
/// Adebayo et al.'s cascading model randomisation on an ONNX graph, in memory: the weights of the weighted layers
/// (Conv, Gemm, MatMul with a constant weight) nearest the output are randomly permuted. A permutation keeps each
/// layer's weight distribution, and so the scale of its activations, but destroys what was learned. Weights stored
/// directly as initializers and weights behind a DequantizeLinear (quantised graphs) are both handled.
/// </summary>
internal static class WeightRandomiser
{
    /// <summary>The weight initializers of the weighted layers, nearest the output first (each tensor once).</summary>
    public static IReadOnlyList<(NodeProto Node, TensorProto Weight)> WeightedLayersFromTop(GraphProto graph)
    {
        var initializers = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (var t in graph.Initializer) initializers[t.Name] = t;
        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var n in graph.Node) foreach (var o in n.Output) producers[o] = n;

        TensorProto? WeightOf(NodeProto node)
        {
            string w = node.Input[1];
            if (initializers.TryGetValue(w, out var t)) return t;
            return producers.TryGetValue(w, out var p) && p.OpType == "DequantizeLinear" && initializers.TryGetValue(p.Input[0], out var q) ? q : null;
        }

        var seen = new HashSet<TensorProto>(ReferenceEqualityComparer.Instance);
        var layers = new List<(NodeProto, TensorProto)>();
        // Nodes are in topological order (ONNX requires it): walking them backwards goes from the output down.
        for (int i = graph.Node.Count - 1; i >= 0; i--)
        {
            var node = graph.Node[i];
            if (node.OpType is not ("Conv" or "Gemm" or "MatMul") || node.Input.Count < 2) continue;
            if (WeightOf(node) is { } weight && seen.Add(weight)) layers.Add((node, weight));
        }
        return layers;
    }

    /// <summary>Permutes the weights of the top <paramref name="layers"/> layers of <paramref name="graph"/> in place;
    /// returns them as "OpType weight [dims]", nearest the output first. The permutation of each layer depends only on
    /// the seed and the layers above it, so randomising k layers repeats the k − 1 of the previous cascade step.</summary>
    public static IReadOnlyList<string> Randomise(GraphProto graph, int layers, int seed)
    {
        var weighted = WeightedLayersFromTop(graph);
        if (layers < 1 || layers > weighted.Count)
            throw new ArgumentOutOfRangeException(nameof(layers), layers, $"the graph has {weighted.Count} weighted layers; randomise 1 to {weighted.Count}");
        var rng = new Random(seed);
        var changed = new List<string>(layers);
        foreach (var (node, weight) in weighted.Take(layers))
        {
            Permute(weight, rng);
            changed.Add($"{node.OpType} {weight.Name} [{string.Join(",", weight.Dims)}]");
        }
        return changed;
    }

    private static void Permute(TensorProto t, Random rng)
    {
        if (t.RawData.Length > 0)
        {
            int size = OnnxTensors.ElementSize(t.DataType);
            var bytes = t.RawData.Span;
            int n = bytes.Length / size;
            var order = Enumerable.Range(0, n).ToArray();
            rng.Shuffle(order);
            var result = new byte[bytes.Length];
            for (int i = 0; i < n; i++) bytes.Slice(order[i] * size, size).CopyTo(result.AsSpan(i * size));
            t.RawData = ByteString.CopyFrom(result);
        }
        else if (t.FloatData.Count > 0) Shuffle(t.FloatData, rng);
        else if (t.Int32Data.Count > 0) Shuffle(t.Int32Data, rng);
        else throw new NotSupportedException($"weight {t.Name} stores its data in an unsupported field (external data?)");
    }

    private static void Shuffle<T>(Google.Protobuf.Collections.RepeatedField<T> field, Random rng)
    {
        var values = field.ToArray();
        rng.Shuffle(values);
        field.Clear();
        field.Add(values);
    }
}
