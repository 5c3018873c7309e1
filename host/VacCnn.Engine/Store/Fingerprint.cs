using System.Security.Cryptography;
using System.Text;

namespace VacCnn.Engine.Store;

/// <summary>Content fingerprints (SHA-256, hex) that key stored results, so that stale results are never shown.</summary>
public static class Fingerprint
{
    /// <summary>
    /// Fingerprint of a model: the relative names and contents of every regular file in its folder (model.onnx,
    /// model.json, ...), or of the single file when <paramref name="location"/> is a file.
    /// </summary>
    public static string OfModel(string location)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        if (File.Exists(location))
        {
            AddFile(sha, location, Path.GetFileName(location));
        }
        else if (Directory.Exists(location))
        {
            foreach (var file in Directory.EnumerateFiles(location, "*", SearchOption.AllDirectories)
                         .Where(f => !Path.GetFileName(f).StartsWith('.'))
                         .Order(StringComparer.Ordinal))
                AddFile(sha, file, Path.GetRelativePath(location, file).Replace('\\', '/'));
        }
        else throw new FileNotFoundException($"model location '{location}' does not exist");
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>SHA-256 of a string, hex.</summary>
    public static string OfText(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    private static void AddFile(IncrementalHash sha, string path, string name)
    {
        sha.AppendData(Encoding.UTF8.GetBytes(name + "\0"));
        using var fs = File.OpenRead(path);
        var buf = new byte[1 << 16];
        int n;
        while ((n = fs.Read(buf)) > 0) sha.AppendData(buf, 0, n);
        sha.AppendData("\0"u8);
    }
}
