using System.Diagnostics;
using VacCnn.Engine.Data;
using VacCnn.Engine.Store;
using VacCnn.Engine.Tests.Evaluation;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Faults;

/// <summary>
/// Faults around the store: a write that dies half-way, results that cannot be written, a data folder that cannot
/// be created, a model folder deleted while the host runs. Each gives a clear error and loses nothing finished.
/// </summary>
public class StoreFaultTests
{
    private const string Model = "mobilenet_v1_0.25_128_quant";
    private const string Other = "squeezenet_v1.1_int8";

    [Fact]
    public void A_write_that_dies_half_way_leaves_the_previous_file_whole_and_no_stray_temp_file()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "confidence.npy");
        var old = Enumerable.Range(0, 6).Select(i => i * 0.5f).ToArray();
        Npy.WriteFile(path, old, 2, 3);
        byte[] before = File.ReadAllBytes(path);

        // The writer fails after half of the new content (as a crash or a full disk would cut it).
        var e = Assert.Throws<IOException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[64]);
            throw new IOException("No space left on device");
        }));
        Assert.Contains(path, e.Message);
        Assert.Contains("full or read-only", e.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(old, Npy.ReadFloats(path).Data);
        Assert.Equal(["confidence.npy"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void Temp_files_of_a_killed_writer_are_never_read_and_are_cleaned_up()
    {
        using var data = new TempDir();
        string runs = Path.Combine(data.Path, "runs", "r1");
        Directory.CreateDirectory(runs);
        // What a writer killed between create and rename leaves: a hidden temp file with partial bytes.
        string stale = Path.Combine(runs, ".confidence.npy.4242.0123456789abcdef.tmp");
        File.WriteAllBytes(stale, new byte[100]);
        File.SetLastWriteTimeUtc(stale, DateTime.UtcNow.AddMinutes(-5));
        var store = new ResultStore(data.Path);
        Assert.False(File.Exists(stale));
        Assert.False(File.Exists(store.ConfidencePath("r1"))); // never renamed, so never a result
    }

    [Fact]
    public void Results_that_cannot_be_written_fail_the_shard_clearly_and_keep_finished_work()
    {
        using var images = EvaluationTests.SampleSubset(20);
        using var data = new TempDir();
        using var reference = new TempDir();
        using var engine = EvaluationTests.CreateEngine(data.Path, shardSize: 10, batchSize: 5);
        var set = ImageSet.Open(images.Path, engine.Classes);

        // A finished run of another model: must survive untouched.
        var finished = engine.Evaluation.Evaluate(Other, set);
        byte[] finishedMatrix = File.ReadAllBytes(engine.Store.ConfidencePath(finished.RunId));

        // The new run's folder cannot be created (a file squats its name: what a read-only or full disk gives too).
        var run = engine.Evaluation.PlanRun(Model, set);
        File.WriteAllText(engine.Store.RunDirectory(run.RunId), "in the way");
        var e = Assert.Throws<IOException>(() => engine.Evaluation.RunShard(run.RunId, 0));
        Assert.Contains(engine.Store.RunDirectory(run.RunId), e.Message);
        var shard = engine.Store.GetShards(run.RunId)[0];
        Assert.NotEqual(RunStates.Done, shard.State);
        Assert.Null(shard.Owner); // lease given back: a retry need not wait
        Assert.Empty(engine.Store.GetPredictions(run.RunId));

        Assert.Equal(finishedMatrix, File.ReadAllBytes(engine.Store.ConfidencePath(finished.RunId)));
        Assert.Equal(RunStates.Done, engine.Store.GetRun(finished.RunId)!.State);

        // Once the disk is writable again the same run resumes and gives the uninterrupted result.
        File.Delete(engine.Store.RunDirectory(run.RunId));
        var resumed = engine.Evaluation.Evaluate(Model, set);
        using var refEngine = EvaluationTests.CreateEngine(reference.Path, shardSize: 10, batchSize: 5);
        var expected = refEngine.Evaluation.Evaluate(Model, ImageSet.Open(images.Path, refEngine.Classes));
        Assert.Equal(File.ReadAllBytes(refEngine.Store.ConfidencePath(expected.RunId)), File.ReadAllBytes(engine.Store.ConfidencePath(resumed.RunId)));
    }

    [Fact]
    public void A_data_folder_on_a_read_only_file_system_is_a_clear_start_up_error()
    {
        // /proc is read-only even for root (chmod does not stop root, a read-only file system does).
        var e = Assert.Throws<OptionsValidationException>(() => EvaluationTests.CreateEngine("/proc/vaccnn-data"));
        Assert.Contains(e.Problems, p => p.Contains("VacCnn:Data") && p.Contains("/proc/vaccnn-data"));
    }

    [Fact]
    public void A_model_folder_deleted_while_in_use_gives_a_clear_error_and_the_others_keep_working()
    {
        using var models = new TempDir("vaccnn-models");
        foreach (string id in new[] { Model, Other })
        {
            Directory.CreateDirectory(Path.Combine(models.Path, id));
            foreach (var f in Directory.GetFiles(Path.Combine(TestPaths.Models, id)))
                File.Copy(f, Path.Combine(models.Path, id, Path.GetFileName(f)));
        }
        using var images = EvaluationTests.SampleSubset(10);
        using var data = new TempDir();
        using var engine = VacCnnEngine.Create(new Configuration.VacCnnOptions
        {
            Models = models.Path, ImageNet = TestPaths.ImageNet, Data = data.Path, Plugins = TestPaths.Plugins,
            Device = Contracts.ExecutionDevice.Cpu,
        });
        var set = ImageSet.Open(images.Path, engine.Classes);
        Directory.Delete(Path.Combine(models.Path, Model), recursive: true);

        var e = Assert.Throws<InvalidOperationException>(() => engine.Evaluation.PlanRun(Model, set));
        Assert.Contains(Model, e.Message);
        Assert.Contains("gone", e.Message);
        Assert.Equal(10, engine.Evaluation.Evaluate(Other, set).Images + engine.Evaluation.Evaluate(Other, set).Skipped);
    }
}
