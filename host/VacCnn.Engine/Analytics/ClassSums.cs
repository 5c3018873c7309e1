using System.Numerics.Tensors;
using System.Runtime.InteropServices;
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
        ConfidenceSums = new float[(long)classCount * classCount];
        Top1Counts = new int[(long)classCount * classCount];
    }

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
        return sums;
    }

    // About 16 MB of rows per chunk: large enough for sequential reads, small enough to stay bounded.
    private static int ChunkRowsFor(int classCount) => Math.Max(1, (16 << 20) / (4 * classCount));

    /// <summary>
    /// Adds <paramref name="rows"/> rows of <paramref name="data"/> (from <paramref name="dataOffset"/>) with the labels
    /// from <paramref name="labelStart"/>. The work is split between cores by COLUMN range for the sums and by row
    /// range for the arg-max, so every accumulator is written by one thread in row order: the result is the same
    /// whatever the number of cores.
    /// </summary>
    private void AddChunk(float[] data, int dataOffset, int[] labels, int labelStart, int rows, int[] top1)
    {
        int n = ClassCount;
        for (int i = 0; i < rows; i++)
        {
            int label = labels[labelStart + i];
            if ((uint)label >= (uint)n) throw new InvalidDataException($"label {label} of row {labelStart + i} is outside 0..{n - 1}");
        }
        int workers = (long)rows * n < 1 << 16 ? 1 : Math.Min(Environment.ProcessorCount, 8);
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
        {
            int c0 = (int)((long)n * w / workers), c1 = (int)((long)n * (w + 1) / workers);
            for (int i = 0; i < rows; i++)
            {
                int label = labels[labelStart + i];
                var acc = ConfidenceSums.AsSpan(label * n + c0, c1 - c0);
                TensorPrimitives.Add(acc, data.AsSpan(dataOffset + i * n + c0, c1 - c0), acc);
            }
            int r0 = (int)((long)rows * w / workers), r1 = (int)((long)rows * (w + 1) / workers);
            for (int i = r0; i < r1; i++) top1[i] = TensorPrimitives.IndexOfMax(data.AsSpan(dataOffset + i * n, n));
        });
        for (int i = 0; i < rows; i++)
        {
            int label = labels[labelStart + i];
            ImagesPerClass[label]++;
            Top1Counts[(long)label * n + top1[i]]++;
        }
        Images += rows;
    }
}
