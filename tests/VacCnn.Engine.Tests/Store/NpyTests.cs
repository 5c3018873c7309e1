using System.Diagnostics;
using VacCnn.Engine.Store;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Store;

public class NpyTests
{
    [Fact]
    public void Header_matches_the_npy_1_0_specification_byte_for_byte()
    {
        using var ms = new MemoryStream();
        Npy.Write(ms, new float[] { 1f, 2f, 3f, 4f, 5f, 6f }, 2, 3);
        byte[] b = ms.ToArray();
        // Hand-built expectation: magic, version 1.0, header length (little-endian), dict padded to a multiple of 64.
        string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        // 10 bytes of preamble + 59-character dict + newline = 69 → padded to 128, so the header is 118 bytes.
        int headerLen = 118;
        Assert.Equal(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)headerLen, 0 }, b[..10]);
        string header = System.Text.Encoding.ASCII.GetString(b, 10, headerLen);
        Assert.StartsWith(dict, header);
        Assert.EndsWith("\n", header);
        Assert.Equal(128 + 6 * 4, b.Length);
        Assert.Equal(BitConverter.GetBytes(1f), b[128..132]);
        Assert.Equal(BitConverter.GetBytes(6f), b[^4..]);
    }

    [Fact]
    public void Round_trips_and_rejects_truncated_files()
    {
        using var dir = new TempDir();
        var data = Enumerable.Range(0, 35).Select(i => i * 0.5f - 3).ToArray();
        string path = dir.Combine("m.npy");
        Npy.WriteFile(path, data, 5, 7);
        var (read, shape) = Npy.ReadFloats(path);
        Assert.Equal(new[] { 5, 7 }, shape);
        Assert.Equal(data, read);

        File.WriteAllBytes(path, File.ReadAllBytes(path)[..^4]);
        var e = Assert.Throws<InvalidDataException>(() => Npy.ReadFloats(path));
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void NumPy_reads_what_we_write_and_we_read_what_NumPy_writes()
    {
        if (!ReferencePython.Available()) return; // python3-numpy is installed by .ci/run; locally it may be absent
        using var dir = new TempDir();
        string ours = dir.Combine("ours.npy"), theirs = dir.Combine("theirs.npy");
        Npy.WriteFile(ours, new float[] { 0.25f, -1.5f, 3f, 1e-8f, 7f, 8f }, 3, 2);
        string script = $"""
            import numpy as np
            a = np.load(r'{ours}')
            assert a.dtype == np.float32 and a.shape == (3, 2), (a.dtype, a.shape)
            assert a[0, 1] == -1.5 and a[1, 1] == np.float32(1e-8) and a[2, 1] == 8
            np.save(r'{theirs}', np.arange(12, dtype=np.int32).reshape(4, 3) * 3)
            print('ok')
            """;
        Assert.Equal("ok", ReferencePython.Run(script).Trim());
        var (ints, shape) = Npy.ReadInts(theirs);
        Assert.Equal(new[] { 4, 3 }, shape);
        Assert.Equal(Enumerable.Range(0, 12).Select(i => i * 3), ints);
    }
}
