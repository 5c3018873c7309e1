using System.Buffers.Binary;
using Google.Protobuf;
using Onnx;

namespace VacCnn.Models.Onnx;

/// <summary>Reading and writing the values of ONNX initializers (raw_data or the typed repeated fields).</summary>
internal static class OnnxTensors
{
    // TensorProto.DataType values (onnx.proto). Kept as ints: OnnxSharp exposes DataType as int.
    public const int Float = 1, UInt8 = 2, Int8 = 3, UInt16 = 4, Int16 = 5, Int32 = 6, Int64 = 7, Float16 = 10, Double = 11, BFloat16 = 16;

    /// <summary>Number of elements (a rank-0 tensor has one).</summary>
    public static long ElementCount(TensorProto t) => t.Dims.Aggregate(1L, (a, d) => a * d);

    /// <summary>True when the data lives in an external file, which this plugin does not read.</summary>
    public static bool IsExternal(TensorProto t) => t.DataLocation == TensorProto.Types.DataLocation.External;

    /// <summary>Integer element types DequantizeLinear accepts as its x input (and that we can fold).</summary>
    public static bool IsQuantizedInt(int type) => type is UInt8 or Int8 or UInt16 or Int16 or Int32;

    /// <summary>The values of an integer or float tensor as doubles (exact for all types up to int32).</summary>
    public static double[] ReadAsDoubles(TensorProto t)
    {
        if (IsExternal(t)) throw new NotSupportedException($"tensor '{t.Name}' uses external data, which is not supported");
        long n = ElementCount(t);
        if (n > int.MaxValue) throw new NotSupportedException($"tensor '{t.Name}' is too large ({n} elements)");
        var result = new double[n];
        var raw = t.RawData.Span;
        if (raw.Length > 0)
        {
            int size = ElementSize(t.DataType);
            if (raw.Length != n * size)
                throw new InvalidDataException($"tensor '{t.Name}' has {raw.Length} raw bytes, expected {n * size}");
            for (int i = 0; i < n; i++)
            {
                var b = raw.Slice(i * size, size);
                result[i] = t.DataType switch
                {
                    Float => BinaryPrimitives.ReadSingleLittleEndian(b),
                    UInt8 => b[0],
                    Int8 => (sbyte)b[0],
                    UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(b),
                    Int16 => BinaryPrimitives.ReadInt16LittleEndian(b),
                    Int32 => BinaryPrimitives.ReadInt32LittleEndian(b),
                    Int64 => BinaryPrimitives.ReadInt64LittleEndian(b),
                    Double => BinaryPrimitives.ReadDoubleLittleEndian(b),
                    Float16 => (double)BinaryPrimitives.ReadHalfLittleEndian(b),
                    _ => throw new NotSupportedException($"tensor '{t.Name}': data type {t.DataType} is not supported"),
                };
            }
            return result;
        }
        // Typed fields: onnx.proto stores int8/uint8/int16/uint16/int32 (and float16 bits) in int32_data.
        switch (t.DataType)
        {
            case Float: Copy(t.FloatData, result, v => v); break;
            case UInt8 or Int8 or UInt16 or Int16 or Int32: Copy(t.Int32Data, result, v => v); break;
            case Int64: Copy(t.Int64Data, result, v => v); break;
            case Double: Copy(t.DoubleData, result, v => v); break;
            case Float16: Copy(t.Int32Data, result, v => (double)BitConverter.UInt16BitsToHalf((ushort)v)); break;
            default: throw new NotSupportedException($"tensor '{t.Name}': data type {t.DataType} is not supported");
        }
        return result;
    }

    private static void Copy<T>(IReadOnlyList<T> source, double[] target, Func<T, double> convert)
    {
        if (source.Count != target.Length)
            throw new InvalidDataException($"tensor holds {source.Count} values, its shape says {target.Length}");
        for (int i = 0; i < target.Length; i++) target[i] = convert(source[i]);
    }

    /// <summary>Bytes per element in raw_data.</summary>
    public static int ElementSize(int type) => type switch
    {
        UInt8 or Int8 => 1,
        UInt16 or Int16 or Float16 or BFloat16 => 2,
        Float or Int32 => 4,
        Int64 or Double => 8,
        _ => throw new NotSupportedException($"data type {type} is not supported"),
    };

    /// <summary>A float32 initializer stored as raw little-endian bytes.</summary>
    public static TensorProto FloatTensor(string name, IEnumerable<long> dims, float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        var t = new TensorProto { Name = name, DataType = Float, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims);
        return t;
    }
}
