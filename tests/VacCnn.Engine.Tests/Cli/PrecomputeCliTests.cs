using System.Diagnostics;
using System.Text.Json;
using VacCnn.Engine.Explanations;
using VacCnn.Engine.Store;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Cli;

/// <summary>
/// vaccnn precompute as a real process on a real model and photos: a batch killed with SIGKILL halfway resumes without
/// touching the explanations it had stored, and ends with the maps of an uninterrupted run.
/// </summary>
public sealed class PrecomputeCliTests : IDisposable
{
    private const string Small = "mobilenet_v1_0.25_128_quant";
    private readonly TempDir _models = new("vaccnn-pre-models");
    private readonly TempDir _images = new("vaccnn-pre-images");
    private readonly TempDir _reference = new("vaccnn-pre-reference");
    private readonly TempDir _interrupted = new("vaccnn-pre-interrupted");

    public PrecomputeCliTests()
    {
        Directory.CreateSymbolicLink(_models.Combine(Small), Path.Combine(TestPaths.Models, Small));
        foreach (string f in Directory.GetFiles(TestPaths.ImageNetSamples).Order(StringComparer.Ordinal).Take(10))
            File.Copy(f, _images.Combine(Path.GetFileName(f)));
    }

    private Process Start(string data)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        // Score-CAM: a forward pass per channel, slow enough to be killed between two explanations.
        foreach (var a in new[] { Jobs.ResumeTests.CliDll(), "precompute", "--models", _models.Path, "--images", _images.Path,
                     "--data", data, "--imagenet", TestPaths.ImageNet, "--plugins", TestPaths.Plugins, "--device", "cpu",
                     "--model", Small, "--method", "scorecam", "--json", "--no-progress" })
            psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    private static async Task<JsonElement> Finish(Process p)
    {
        var err = p.StandardError.ReadToEndAsync();
        string stdout = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, await err);
        return JsonDocument.Parse(stdout).RootElement;
    }

    private static Dictionary<string, DateTime> StoredMaps(string data) =>
        Directory.GetFiles(Path.Combine(data, "explanations"), "*.vxm", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetFileNameWithoutExtension(f)!, File.GetLastWriteTimeUtc);

    [Fact]
    public async Task A_precompute_killed_with_SIGKILL_resumes_without_recomputing_and_gives_the_maps_of_an_uninterrupted_run()
    {
        using (var p = Start(_reference.Path))
        {
            var json = await Finish(p);
            Assert.Equal(("done", 10, 10, 0), (json.GetProperty("state").GetString(), json.GetProperty("total").GetInt32(),
                json.GetProperty("done").GetInt32(), json.GetProperty("failed").GetInt32()));
        }
        Assert.Equal(10, StoredMaps(_reference.Path).Count);

        var store = new ResultStore(_interrupted.Path);
        using (var worker = Start(_interrupted.Path))
        {
            var log = worker.StandardError.ReadToEndAsync();
            var deadline = DateTime.UtcNow.AddSeconds(180);
            while (DateTime.UtcNow < deadline && !worker.HasExited && !(store.ListBatches().FirstOrDefault() is { Done: >= 3 }))
                Thread.Sleep(20);
            if (worker.HasExited) Assert.Fail("the precompute finished before it could be killed: " + await log);
            worker.Kill(entireProcessTree: true); // SIGKILL: no chance to clean up
            worker.WaitForExit();
        }
        var killed = Assert.Single(store.ListBatches());
        Assert.Equal(RunStates.Running, killed.State);
        Assert.InRange(killed.Done, 3, 9);
        var before = StoredMaps(_interrupted.Path);
        Assert.InRange(before.Count, killed.Done, killed.Done + 1); // at most one stored but not yet recorded

        using (var p = Start(_interrupted.Path))
            Assert.Equal(10, (await Finish(p)).GetProperty("done").GetInt32());
        var after = StoredMaps(_interrupted.Path);
        // The maps stored before the kill were not written again; together they are the uninterrupted run's.
        foreach (var (key, written) in before) Assert.Equal(written, after[key]);
        Assert.Equal(StoredMaps(_reference.Path).Keys.Order(), after.Keys.Order());
        var a = new ExplanationCache(Path.Combine(_reference.Path, "explanations"), 1 << 20);
        var b = new ExplanationCache(Path.Combine(_interrupted.Path, "explanations"), 1 << 20);
        foreach (string key in after.Keys)
        {
            var (x, y) = (a.TryGet(key)!, b.TryGet(key)!);
            Assert.Equal(x.CropMap.Values, y.CropMap.Values);
            Assert.Equal((x.ClassIndex, x.Method, x.ModelId), (y.ClassIndex, y.Method, y.ModelId));
        }
        Assert.Equal((RunStates.Done, 10, 0), (store.GetBatch(killed.Id)!.State, store.GetBatch(killed.Id)!.Done, store.GetBatch(killed.Id)!.Failed));
    }

    public void Dispose()
    {
        _models.Dispose();
        _images.Dispose();
        _reference.Dispose();
        _interrupted.Dispose();
    }
}
