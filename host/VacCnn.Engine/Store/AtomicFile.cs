namespace VacCnn.Engine.Store;

/// <summary>
/// Writes files so that readers see either the old content or the complete new content, never a half-written file:
/// write to a temporary sibling, flush to disk, then rename over the target (atomic on POSIX file systems).
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes via <paramref name="write"/> into a temp file, then renames it to <paramref name="path"/>.</summary>
    /// <exception cref="IOException">The file cannot be written (disk full, read-only, permissions); the message names
    /// the path, and the previous content of <paramref name="path"/>, if any, is untouched.</exception>
    public static void Write(string path, Action<Stream> write)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        string tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(dir);
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw new IOException($"cannot write '{path}' (is the data folder full or read-only?): {e.Message}", e);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Deletes temp files left by writers that were killed (older than a minute).</summary>
    public static void CleanupStale(string folder)
    {
        if (!Directory.Exists(folder)) return;
        foreach (var f in Directory.EnumerateFiles(folder, ".*.tmp", SearchOption.AllDirectories))
            if (File.GetLastWriteTimeUtc(f) < DateTime.UtcNow.AddMinutes(-1))
                try { File.Delete(f); } catch (IOException) { }
    }
}
