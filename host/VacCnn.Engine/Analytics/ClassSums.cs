using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using VacCnn.Engine.Store;

namespace VacCnn.Engine.Analytics;

/// <summary>
/// Everything the class analytics need from a confidence matrix P (M images × N classes), gathered in ONE pass over
/// its rows: per ground-truth class r, the number of images, the sum of their probability rows (Σ P[i, :] over
/// y_i = r) and how often each class was the top-1 prediction. Algorithm 1's distances and the confusion tables are
/// derived from these in O(N²), so the cost over the matrix is O(M·N) and streaming from disk needs only a few
/// megabytes whatever M is.
/// </summary>
public sealed class ClassSums
{
    /// <summary>Creates empty sums for <paramref name="classCount"/> classes.</summary>
    public ClassSums(int classCount)
    {
        if (classCount < 1) throw new ArgumentOutOfRangeException(nameof(classCount), "at least one class is needed");
        ClassCount = classCount;
        ImagesPerClass = new int[classCount];
        _partials = [new float[(long)classCount * classCount], []];
        ConfidenceSums = _partials[0];
        Top1Counts = new int[(long)classCount * classCount];
    }

    // Rows are dealt to two accumulators by global row index, in blocks of 64 rows, and the two are added at the
    // end: two cores each read whole rows (contiguous memory) without sharing an accumulator, and the result does not
    // depend on the number of cores or on the chunk size.
    private const int BlockShift = 6;
    private readonly float[][] _partials;

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
    public float[] ConfidenceSums { get; private set; }

    /// <summary>[N, N] row-major: [r, j] = number of images of class r whose top-1 prediction is j.</summary>
    public int[] Top1Counts { get; }

    /// <summary>Mean probability the model gives class <paramref name="j"/> on images of class <paramref name="r"/> (NaN when r has none).</summary>
    public double MeanConfidence(int r, int j) =>
        ImagesPerClass[r] == 0 ? double.NaN : ConfidenceSums[(long)r * ClassCount + j] / (double)ImagesPerClass[r];

    /// <summary>Sums over a whole in-memory matrix ([labels.Length, classCount] row-major).</summary>
    public static ClassSums FromMatrix(float[] probabilities, int[] labels, int classCount)
    {
        if (probabilities.Length != (long)labels.Length * classCount)
            throw new ArgumentException($"matrix has {probabilities.Length} values, {labels.Length} labels × {classCount} classes expected");
        var sums = new ClassSums(classCount);
        var top1 = new int[Math.Min(labels.Length, ChunkRowsFor(classCount))];
        for (int start = 0; start < labels.Length; start += top1.Length)
        {
            int rows = Math.Min(top1.Length, labels.Length - start);
            sums.AddChunk(probabilities, start * classCount, labels, start, rows, top1);
        }
        sums.Complete();
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
        var sums = new ClassSums(n);
        int chunk = Math.Max(1, Math.Min(m, chunkRows ?? ChunkRowsFor(n)));
        float[][] buffers = [new float[(long)chunk * n], new float[(long)chunk * n]];
        var top1 = new int[chunk];
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
            sums.AddChunk(buffers[b], 0, labels, start, rows, top1);
            progress?.Invoke((double)(start + rows) / m);
        }
        sums.Complete();
        return sums;
    }

    // About 16 MB of rows per chunk: large enough for sequential reads, small enough to stay bounded.
    private static int ChunkRowsFor(int classCount) => Math.Max(1, (16 << 20) / (4 * classCount));

    /// <summary>
    /// Adds <paramref name="rows"/> rows of <paramref name="data"/> (from <paramref name="dataOffset"/>) with the labels
    /// from <paramref name="labelStart"/>: each row once, into its block's accumulator, finding its top-1 on the way.
    /// </summary>
    private void AddChunk(float[] data, int dataOffset, int[] labels, int labelStart, int rows, int[] top1)
    {
        int n = ClassCount;
        for (int i = 0; i < rows; i++)
        {
            int label = labels[labelStart + i];
            if ((uint)label >= (uint)n) throw new InvalidDataException($"label {label} of row {labelStart + i} is outside 0..{n - 1}");
        }
        void Partition(int part)
        {
            var acc = _partials[part];
            for (int i = 0; i < rows; i++)
            {
                if (((labelStart + i) >> BlockShift & 1) != part) continue;
                int label = labels[labelStart + i];
                top1[i] = AddAndArgMax(acc.AsSpan(label * n, n), data.AsSpan(dataOffset + i * n, n));
            }
        }
        // The second accumulator is needed as soon as a row lies beyond the first block.
        if (labelStart + rows > 1 << BlockShift && _partials[1].Length == 0) _partials[1] = new float[(long)n * n];
        if (_partials[1].Length == 0) Partition(0);
        else if (Environment.ProcessorCount > 1 && (long)rows * n >= 1 << 16) Parallel.Invoke(() => Partition(0), () => Partition(1));
        else { Partition(0); Partition(1); }
        for (int i = 0; i < rows; i++)
        {
            int label = labels[labelStart + i];
            ImagesPerClass[label]++;
            Top1Counts[(long)label * n + top1[i]]++;
        }
        Images += rows;
    }

    // Adds the second accumulator into the first, once all rows are in.
    private void Complete()
    {
        if (_partials[1].Length > 0) TensorPrimitives.Add(_partials[0], _partials[1], _partials[0]);
        _partials[1] = [];
        ConfidenceSums = _partials[0];
    }

    /// <summary>
    /// acc += row, returning the index of the row's first maximum, in ONE read of the row (the pass is memory-bound:
    /// touching each value once matters most). Each vector lane keeps its running maximum and where it was first
    /// seen; the lanes are then merged, lower index first on ties. NaN is never the maximum; 0 when nothing is.
    /// </summary>
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
