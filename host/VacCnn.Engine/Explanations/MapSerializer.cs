using System.Buffers.Binary;
using System.Runtime.InteropServices;
using VacCnn.Contracts;
using VacCnn.Engine.Store;

namespace VacCnn.Engine.Explanations;

/// <summary>
/// Saliency maps on the wire and on disk.
/// <para>
/// <b>Compact format</b> (for the browser, 1 byte per pixel): bytes 0–3 are ASCII <c>VSM1</c>; bytes 4–5 the width
/// and 6–7 the height, unsigned 16-bit little-endian; then width × height bytes, row-major, top row first, each
/// <c>q = round(255 · value)</c>. Decode with <c>value = q / 255</c> (error ≤ 1/510). In JavaScript:
/// <c>const d = new DataView(buf); const w = d.getUint16(4, true), h = d.getUint16(6, true);
/// const q = new Uint8Array(buf, 8, w * h);</c>
/// </para>
/// <para><b>NumPy</b>: float32 <c>.npy</c> of shape (height, width), exact (<c>numpy.load</c>).</para>
/// </summary>
public static class MapSerializer
{
    /// <summary>Size of the compact header in bytes.</summary>
    public const int CompactHeaderSize = 8;

    private static ReadOnlySpan<byte> Magic => "VSM1"u8;

    /// <summary>Encodes a map in the compact format.</summary>
    public static byte[] ToCompact(SaliencyMap map)
    {
        Check(map);
        if (map.Width > ushort.MaxValue || map.Height > ushort.MaxValue)
            throw new ArgumentException($"compact format holds at most 65535×65535, got {map.Width}×{map.Height}", nameof(map));
        var bytes = new byte[CompactHeaderSize + map.Values.Length];
        Magic.CopyTo(bytes);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(4), (ushort)map.Width);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(6), (ushort)map.Height);
        for (int i = 0; i < map.Values.Length; i++)
        {
            float v = map.Values[i];
            bytes[CompactHeaderSize + i] = float.IsNaN(v) ? (byte)0 : (byte)Math.Round(Math.Clamp(v, 0f, 1f) * 255f, MidpointRounding.AwayFromZero);
        }
        return bytes;
    }

    /// <summary>Decodes the compact format.</summary>
    public static (int Width, int Height, float[] Values) FromCompact(ReadOnlySpan<byte> data)
    {
        if (data.Length < CompactHeaderSize || !data[..4].SequenceEqual(Magic))
            throw new InvalidDataException("not a compact saliency map (missing 'VSM1' header)");
        int w = BinaryPrimitives.ReadUInt16LittleEndian(data[4..]), h = BinaryPrimitives.ReadUInt16LittleEndian(data[6..]);
        if (data.Length != CompactHeaderSize + w * h)
            throw new InvalidDataException($"compact saliency map of {w}×{h} needs {CompactHeaderSize + w * h} bytes, got {data.Length}");
        var values = new float[w * h];
        for (int i = 0; i < values.Length; i++) values[i] = data[CompactHeaderSize + i] / 255f;
        return (w, h, values);
    }

    /// <summary>Writes the map as a float32 .npy array of shape (height, width).</summary>
    public static void WriteNpy(Stream stream, SaliencyMap map)
    {
        Check(map);
        Npy.Write(stream, map.Values, map.Height, map.Width);
    }

    /// <summary>The .npy bytes of <see cref="WriteNpy"/>.</summary>
    public static byte[] ToNpy(SaliencyMap map)
    {
        using var ms = new MemoryStream();
        WriteNpy(ms, map);
        return ms.ToArray();
    }

    /// <summary>Reads a 2-D float32 .npy array written by <see cref="WriteNpy"/> (or NumPy).</summary>
    public static (int Width, int Height, float[] Values) ReadNpy(Stream stream)
    {
        var h = Npy.ReadHeader(stream, "saliency map");
        if (h.Descr != "<f4" || h.Shape.Length != 2)
            throw new InvalidDataException($"saliency map: 2-D float32 expected, found {h.Descr} of shape ({string.Join(", ", h.Shape)})");
        var values = new float[h.Count];
        stream.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan()));
        return (h.Shape[1], h.Shape[0], values);
    }

    private static void Check(SaliencyMap map)
    {
        ArgumentNullException.ThrowIfNull(map);
        if (map.Values.Length != (long)map.Width * map.Height)
            throw new ArgumentException($"map holds {map.Values.Length} values, expected {map.Width}×{map.Height}", nameof(map));
    }
}
