using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace VacCnn.Engine.Store;

/// <summary>
/// NumPy <c>.npy</c> format version 1.0 (little-endian, C order) for float32 and int32 arrays, so that Python users can
/// <c>numpy.load()</c> every stored matrix. Header: magic <c>\x93NUMPY</c>, version 1.0, a little-endian uint16 header
/// length, then a Python dict literal padded with spaces to a multiple of 64 bytes and ended by a newline.
/// </summary>
public static partial class Npy
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Writes a float32 array of the given shape.</summary>
    public static void Write(Stream stream, ReadOnlySpan<float> data, params int[] shape) =>
        WriteRaw(stream, "<f4", shape, MemoryMarshal.AsBytes(data), data.Length);

    /// <summary>Writes an int32 array of the given shape.</summary>
    public static void Write(Stream stream, ReadOnlySpan<int> data, params int[] shape) =>
        WriteRaw(stream, "<i4", shape, MemoryMarshal.AsBytes(data), data.Length);

    /// <summary>Atomically writes a float32 array to <paramref name="path"/>.</summary>
    public static void WriteFile(string path, float[] data, params int[] shape) =>
        AtomicFile.Write(path, s => Write(s, data, shape));

    /// <summary>Atomically writes an int32 array to <paramref name="path"/>.</summary>
    public static void WriteFile(string path, int[] data, params int[] shape) =>
        AtomicFile.Write(path, s => Write(s, data, shape));

    private static void WriteRaw(Stream stream, string descr, int[] shape, ReadOnlySpan<byte> bytes, long count)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
        long expected = shape.Aggregate(1L, (a, d) => a * d);
        if (expected != count) throw new ArgumentException($"shape ({string.Join(",", shape)}) needs {expected} values, got {count}");
        string shapeText = shape.Length == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";
        string dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shapeText}, }}";
        int unpadded = Magic.Length + 2 + 2 + dict.Length + 1;
        int padding = (64 - unpadded % 64) % 64;
        string header = dict + new string(' ', padding) + "\n";
        stream.Write(Magic);
        stream.WriteByte(1);
        stream.WriteByte(0);
        Span<byte> len = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(len, checked((ushort)header.Length));
        stream.Write(len);
        stream.Write(Encoding.ASCII.GetBytes(header));
        stream.Write(bytes);
    }

    /// <summary>Header of an .npy file: element type, shape, and the byte offset of the data.</summary>
    public sealed record Header(string Descr, int[] Shape, long DataOffset)
    {
        /// <summary>Number of elements.</summary>
        public long Count => Shape.Aggregate(1L, (a, d) => a * d);
    }

    /// <summary>Reads and validates the header (versions 1.0–3.0, little-endian float32/int32, C order).</summary>
    public static Header ReadHeader(Stream stream, string nameForErrors = "array")
    {
        Span<byte> pre = stackalloc byte[8];
        stream.ReadExactly(pre);
        if (!pre[..6].SequenceEqual(Magic)) throw new InvalidDataException($"{nameForErrors}: not an .npy file (bad magic)");
        int major = pre[6];
        int headerLength;
        if (major == 1)
        {
            Span<byte> l = stackalloc byte[2];
            stream.ReadExactly(l);
            headerLength = BinaryPrimitives.ReadUInt16LittleEndian(l);
        }
        else if (major is 2 or 3)
        {
            Span<byte> l = stackalloc byte[4];
            stream.ReadExactly(l);
            headerLength = checked((int)BinaryPrimitives.ReadUInt32LittleEndian(l));
        }
        else throw new InvalidDataException($"{nameForErrors}: unsupported .npy version {major}");
        if (headerLength > 1 << 20) throw new InvalidDataException($"{nameForErrors}: .npy header too large");
        var buf = new byte[headerLength];
        stream.ReadExactly(buf);
        string text = Encoding.Latin1.GetString(buf);
        var descr = DescrRegex().Match(text);
        var fortran = FortranRegex().Match(text);
        var shape = ShapeRegex().Match(text);
        if (!descr.Success || !fortran.Success || !shape.Success)
            throw new InvalidDataException($"{nameForErrors}: malformed .npy header '{text.Trim()}'");
        if (fortran.Groups[1].Value == "True") throw new InvalidDataException($"{nameForErrors}: Fortran-order arrays are not supported");
        string d = descr.Groups[1].Value;
        if (d is not ("<f4" or "<i4")) throw new InvalidDataException($"{nameForErrors}: element type '{d}' is not supported (float32 or int32 expected)");
        int[] dims = shape.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        return new Header(d, dims, stream.Position);
    }

    /// <summary>Reads a whole float32 array.</summary>
    public static (float[] Data, int[] Shape) ReadFloats(string path)
    {
        using var fs = File.OpenRead(path);
        var h = ReadHeader(fs, path);
        if (h.Descr != "<f4") throw new InvalidDataException($"{path}: float32 expected, found {h.Descr}");
        CheckLength(fs, h, 4, path);
        var data = new float[h.Count];
        fs.ReadExactly(MemoryMarshal.AsBytes(data.AsSpan()));
        return (data, h.Shape);
    }

    /// <summary>Reads a whole int32 array.</summary>
    public static (int[] Data, int[] Shape) ReadInts(string path)
    {
        using var fs = File.OpenRead(path);
        var h = ReadHeader(fs, path);
        if (h.Descr != "<i4") throw new InvalidDataException($"{path}: int32 expected, found {h.Descr}");
        CheckLength(fs, h, 4, path);
        var data = new int[h.Count];
        fs.ReadExactly(MemoryMarshal.AsBytes(data.AsSpan()));
        return (data, h.Shape);
    }

    private static void CheckLength(Stream fs, Header h, int elementSize, string path)
    {
        if (fs.Length - h.DataOffset != h.Count * elementSize)
            throw new InvalidDataException($"{path}: truncated or oversized .npy data ({fs.Length - h.DataOffset} bytes for {h.Count} elements)");
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']+)'")] private static partial Regex DescrRegex();
    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")] private static partial Regex FortranRegex();
    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")] private static partial Regex ShapeRegex();
}
