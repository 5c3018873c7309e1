using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using VacCnn.Engine.Store;

namespace VacCnn.Engine.Analytics;

/// <summary>
/// Everything the class analytics need from a confidence matrix P (M images × N classes), gathered in ONE pass over
/// its rows: per ground-truth class r, the number of images and the sum of their probability rows (Σ P[i, :] over
/// y_i = r), and each row's top-1 prediction. Algorithm 1's distances and the confusion tables are derived from these
/// in O(N²) (plus O(M) for the confusion counts), so the cost over the matrix is O(M·N) and streaming from disk needs
/// only a few megabytes besides 4 bytes per image.
/// </summary>
public sealed class ClassSums
{
    // Empty sums over the rows with these labels (already checked to lie in 0..classCount-1).
    private ClassSums(int[] labels, int classCount)
    {
        if (classCount < 1) throw new ArgumentOutOfRangeException(nameof(classCount), "at least one class is needed");
        ClassCount = classCount;
        _labels = labels;
        ImagesPerClass = new int[classCount];
        ConfidenceSums = new float[(long)classCount * classCount];
        Top1 = new int[labels.Length];
    }

    private readonly int[] _labels;
    private int[]? _top1Counts;

    /// <summary>N, the number of classes (columns of P).</summary>
    public int ClassCount { get; }

    /// <summary>Rows of P seen so far.</summary>
    public int Images { get; private set; }

    /// <summary>Images per ground-truth class.</summary>
    public int[] ImagesPerClass { get; }

    /// <summary>[N, N] row-major: row r is Σ P[i, :] over the images i of class r.</summary>
    /// <remarks>
    /// float32 accumulators (the values are probabilities in [0, 1]; a class has at most a few thousand images, so the
    /// rounding error stays near 1e-5 in the worst case) keep the accumulator at 4 MB for N = 1000, which stays in cache.
    /// </remarks>
    public float[] ConfidenceSums { get; }

    /// <summary>The top-1 prediction (first maximum) of each row, found in the same pass.</summary>
    public int[] Top1 { get; }

    /// <summary>[N, N] row-major: [r, j] = number of images of class r whose top-1 prediction is j.</summary>
    /// <remarks>Counted from <see cref="Top1"/> when first asked for: Algorithm 1 alone never needs this 4 MB table.</remarks>
    public int[] Top1Counts => _top1Counts ??= CountTop1();

    private int[] CountTop1()
    {
        var counts = new int[(long)ClassCount * ClassCount];
        for (int i = 0; i < Images; i++) counts[(long)_labels[i] * ClassCount + Top1[i]]++;
        return counts;
    }

    /// <summary>Mean probability the model gives class <paramref name="j"/> on images of class <paramref name="r"/> (NaN when r has none).</summary>
    public double MeanConfidence(int r, int j) =>
        ImagesPerClass[r] == 0 ? double.NaN : ConfidenceSums[(long)r * ClassCount + j] / (double)ImagesPerClass[r];

    /// <summary>Sums over a whole in-memory matrix ([labels.Length, classCount] row-major).</summary>
    public static ClassSums FromMatrix(float[] probabilities, int[] labels, int classCount)
    {
        if (probabilities.Length != (long)labels.Length * classCount)
            throw new ArgumentException($"matrix has {probabilities.Length} values, {labels.Length} labels × {classCount} classes expected");
        CheckLabels(labels, classCount);
        var sums = new ClassSums(labels, classCount);
        int split = SplitClass(labels, classCount);
        int chunk = Math.Max(1, ChunkRowsFor(classCount));
        for (int start = 0; start < labels.Length; start += chunk)
            sums.AddChunk(probabilities, start * classCount, labels, start, Math.Min(chunk, labels.Length - start), split);
        return sums;
    }

    /// <summary>
    /// Sums over a stored float32 <c>.npy</c> matrix, read in chunks of about 16 MB with the next chunk read while the
    /// current one is summed, so memory stays bounded however many images there are.
    /// </summary>
    /// <param name="path">The confidence matrix ([M, N] float32).</param>
    /// <param name="labels">Ground truth per row (M values).</param>
    /// <param name="progress">Called after each chunk with the fraction of rows done.</param>
    public static ClassSums FromNpy(string path, int[] labels, Action<double>? progress = null) => FromNpy(path, labels, progress, null);

    /// <summary><see cref="FromNpy(string, int[], Action{double}?)"/> with a chosen chunk size (tests exercise chunk boundaries).</summary>
    internal static ClassSums FromNpy(string path, int[] labels, Action<double>? progress, int? chunkRows)
    {
        // RandomAccess reads at explicit offsets, so the read-ahead task and this thread never share a position.
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        var handle = fs.SafeFileHandle;
        var header = Npy.ReadHeader(fs, path);
        if (header.Descr != "<f4") throw new InvalidDataException($"{path}: float32 expected, found {header.Descr}");
        if (header.Shape.Length != 2) throw new InvalidDataException($"{path}: a 2-D [images, classes] matrix expected, found shape ({string.Join(",", header.Shape)})");
        if (fs.Length - header.DataOffset != header.Count * 4)
            throw new InvalidDataException($"{path}: truncated or oversized .npy data ({fs.Length - header.DataOffset} bytes for {header.Count} values)");
        int m = header.Shape[0], n = header.Shape[1];
        if (m != labels.Length) throw new InvalidDataException($"{path}: {m} rows but {labels.Length} labels");
        CheckLabels(labels, n);
        var sums = new ClassSums(labels, n);
        int split = SplitClass(labels, n);
        int chunk = Math.Max(1, Math.Min(m, chunkRows ?? ChunkRowsFor(n)));
        float[][] buffers = [new float[(long)chunk * n], new float[(long)chunk * n]];
        Task ReadAsync(int start, float[] buffer) => Task.Run(() =>
        {
            int rows = Math.Min(chunk, m - start);
            var bytes = MemoryMarshal.AsBytes(buffer.AsSpan(0, rows * n));
            long offset = header.DataOffset + (long)start * n * 4;
            while (bytes.Length > 0)
            {
                int read = RandomAccess.Read(handle, bytes, offset);
                if (read == 0) throw new EndOfStreamException($"{path}: file ended early");
                bytes = bytes[read..];
                offset += read;
            }
        });
        Task? next = m > 0 ? ReadAsync(0, buffers[0]) : null;
        for (int start = 0, b = 0; start < m; start += chunk, b ^= 1)
        {
            next!.GetAwaiter().GetResult();
            next = start + chunk < m ? ReadAsync(start + chunk, buffers[b ^ 1]) : null;
            int rows = Math.Min(chunk, m - start);
            sums.AddChunk(buffers[b], 0, labels, start, rows, split);
            progress?.Invoke((double)(start + rows) / m);
        }
        return sums;
    }

    // About 16 MB of rows per chunk: large enough for sequential reads, small enough to stay bounded.
    private static int ChunkRowsFor(int classCount) => Math.Max(1, (16 << 20) / (4 * classCount));

    private static void CheckLabels(int[] labels, int classCount)
    {
        for (int i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)classCount)
                throw new InvalidDataException($"label {labels[i]} of row {i} is outside 0..{classCount - 1}");
    }

    // Two cores share the pass by ground-truth class: one takes the rows whose label is below this class, the other
    // the rest. Each accumulator row then has exactly one writer that adds its images in row order, so there is one
    // accumulator (no second 4 MB copy to merge) and the sums are the same for any core count or chunk size. The
    // split puts half of the images on each side.
    private static int SplitClass(int[] labels, int classCount)
    {
        var perClass = new int[classCount];
        foreach (int label in labels) perClass[label]++;
        int half = labels.Length / 2, seen = 0, split = 0;
        while (split < classCount && seen < half) seen += perClass[split++];
        return split;
    }

    /// <summary>
    /// Adds <paramref name="rows"/> rows of <paramref name="data"/> (from <paramref name="dataOffset"/>) with the labels
    /// from <paramref name="labelStart"/>: each row once, into its class's accumulator row, finding its top-1 on the way.
    /// </summary>
    private void AddChunk(float[] data, int dataOffset, int[] labels, int labelStart, int rows, int split)
    {
        if (Environment.ProcessorCount > 1 && (long)rows * ClassCount >= 1 << 16)
            Parallel.Invoke(() => AddRows(data, dataOffset, labels, labelStart, rows, 0, split),
                            () => AddRows(data, dataOffset, labels, labelStart, rows, split, ClassCount));
        else AddRows(data, dataOffset, labels, labelStart, rows, 0, ClassCount);
        Images += rows;
    }

    // The rows whose label lies in [fromClass, toClass). AggressiveOptimization: this runs once per model, so the
    // tiered JIT would otherwise spend most of the pass in unoptimised code.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void AddRows(float[] data, int dataOffset, int[] labels, int labelStart, int rows, int fromClass, int toClass)
    {
        int n = ClassCount;
        for (int i = 0; i < rows; i++)
        {
            int label = labels[labelStart + i];
            if (label < fromClass || label >= toClass) continue;
            Top1[labelStart + i] = AddAndArgMax(ConfidenceSums.AsSpan(label * n, n), data.AsSpan(dataOffset + i * n, n));
            ImagesPerClass[label]++;
        }
    }

    /// <summary>
    /// acc += row, returning the index of the row's first maximum, in ONE read of the row (the pass is memory-bound:
    /// touching each value once matters most). Each vector lane keeps its running maximum and where it was first
    /// seen; the lanes are then merged, lower index first on ties. NaN is never the maximum; 0 when nothing is.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static int AddAndArgMax(Span<float> acc, ReadOnlySpan<float> row)
    {
        int length = row.Length, i = 0;
        ref float r = ref MemoryMarshal.GetReference(row);
        ref float a = ref MemoryMarshal.GetReference(acc);
        float best = float.NegativeInfinity;
        int bestIndex = 0;
        if (Vector256.IsHardwareAccelerated && length >= 2 * Vector256<float>.Count)
        {
            // Two independent (max, index) chains: one chain is bound by the latency of compare + select, not by
            // memory; with two the loop keeps up with the reads.
            var max0 = Vector256.Create(float.NegativeInfinity);
            var max1 = max0;
            var idx0 = Vector256<int>.Zero;
            var idx1 = idx0;
            var position0 = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
            var position1 = position0 + Vector256.Create(Vector256<float>.Count);
            var step = Vector256.Create(2 * Vector256<float>.Count);
            for (; i <= length - 2 * Vector256<float>.Count; i += 2 * Vector256<float>.Count)
            {
                var v0 = Vector256.LoadUnsafe(ref r, (nuint)i);
                var v1 = Vector256.LoadUnsafe(ref r, (nuint)(i + Vector256<float>.Count));
                (Vector256.LoadUnsafe(ref a, (nuint)i) + v0).StoreUnsafe(ref a, (nuint)i);
                (Vector256.LoadUnsafe(ref a, (nuint)(i + Vector256<float>.Count)) + v1).StoreUnsafe(ref a, (nuint)(i + Vector256<float>.Count));
                var greater0 = Vector256.GreaterThan(v0, max0);
                var greater1 = Vector256.GreaterThan(v1, max1);
                max0 = Vector256.ConditionalSelect(greater0, v0, max0);
                max1 = Vector256.ConditionalSelect(greater1, v1, max1);
                idx0 = Vector256.ConditionalSelect(greater0.AsInt32(), position0, idx0);
                idx1 = Vector256.ConditionalSelect(greater1.AsInt32(), position1, idx1);
                position0 += step;
                position1 += step;
            }
            // Merge the 16 lanes: larger value first, lower index on ties (each lane already kept its first maximum).
            for (int k = 0; k < Vector256<float>.Count; k++)
            {
                float v = max0.GetElement(k);
                int at = idx0.GetElement(k);
                if (v > best || (v == best && at < bestIndex)) { best = v; bestIndex = at; }
                v = max1.GetElement(k);
                at = idx1.GetElement(k);
                if (v > best || (v == best && at < bestIndex)) { best = v; bestIndex = at; }
            }
        }
        for (; i < length; i++)
        {
            float v = Unsafe.Add(ref r, i);
            Unsafe.Add(ref a, i) += v;
            if (v > best) { best = v; bestIndex = i; }
        }
        return bestIndex;
    }

}
