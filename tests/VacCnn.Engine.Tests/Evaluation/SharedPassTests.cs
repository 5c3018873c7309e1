using VacCnn.Contracts;
using VacCnn.Engine.Data;
using VacCnn.Engine.Evaluation;
using VacCnn.Engine.Plugins;
using VacCnn.Engine.Store;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Evaluation;

/// <summary>
/// Several models evaluated together: each image is decoded once per pass for all of them, and every model's result
/// is byte for byte what evaluating it alone gives (real models with three different preprocessing recipes).
/// </summary>
public class SharedPassTests
{
    // 128/146 with mean 127.5, 224/256 with ImageNet mean/std, and a third model: three recipes at least two.
    private static readonly string[] Models = ["mobilenet_v1_0.25_128_quant", "squeezenet_v1.1_int8", "regnetx_200mf_int8"];
    private const int Images = 48, ShardSize = 16;

    [Fact]
    public void Evaluating_three_models_together_decodes_each_image_once_and_gives_the_results_of_evaluating_them_alone()
    {
        using var images = EvaluationTests.SampleSubset(Images);
        var alone = new Dictionary<string, (byte[] Matrix, EvaluationSummary Summary)>();
        long decodesAlone = 0;
        foreach (string model in Models)
        {
            using var data = new TempDir();
            using var engine = EvaluationTests.CreateEngine(data.Path, shardSize: ShardSize, batchSize: 8);
            var s = engine.Evaluation.Evaluate(model, ImageSet.Open(images.Path, engine.Classes));
            alone[model] = (File.ReadAllBytes(engine.Store.ConfidencePath(s.RunId)), s);
            decodesAlone += engine.Evaluation.ImagesDecoded;
        }
        Assert.Equal(Models.Length * Images, decodesAlone); // the counter counts real decodes

        using var together = new TempDir();
        using var e = EvaluationTests.CreateEngine(together.Path, shardSize: ShardSize, batchSize: 8);
        var progress = new List<RunProgress>();
        var summaries = e.Evaluation.Evaluate(Models, ImageSet.Open(images.Path, e.Classes), progress.Add);

        Assert.Equal(Images, e.Evaluation.ImagesDecoded);
        Assert.Equal(Models, summaries.Select(s => s.Model));
        foreach (var s in summaries)
        {
            var (matrix, want) = alone[s.Model];
            Assert.Equal(want.RunId, s.RunId);
            Assert.Equal(matrix, File.ReadAllBytes(e.Store.ConfidencePath(s.RunId)));
            Assert.Equal((want.Images, want.Skipped, want.Top1, want.Top5), (s.Images, s.Skipped, s.Top1, s.Top5));
            // Every shard of every model committed exactly once.
            Assert.Equal(Enumerable.Range(0, Images / ShardSize), e.Store.GetShardCommits(s.RunId).Select(c => c.Shard));
        }
        // Progress reached every run, ending complete.
        Assert.All(summaries, s => Assert.Equal(1.0, progress.Last(p => p.Run.RunId == s.RunId).Fraction));
    }

    [Fact]
    public void A_pass_resumes_per_model_and_decodes_only_the_shards_some_model_still_needs()
    {
        using var images = EvaluationTests.SampleSubset(Images);
        using var data = new TempDir();
        using var e = EvaluationTests.CreateEngine(data.Path, shardSize: ShardSize, batchSize: 8);
        var set = ImageSet.Open(images.Path, e.Classes);
        // "Before a crash": model 0 finished shard 0 and model 1 shards 0 and 1; model 2 nothing.
        var runs = Models.Select(m => e.Evaluation.PlanRun(m, set)).ToList();
        e.Evaluation.RunShard(runs[0].RunId, 0);
        e.Evaluation.RunShards([runs[1].RunId], 0);
        e.Evaluation.RunShard(runs[1].RunId, 1);
        long before = e.Evaluation.ImagesDecoded;
        Assert.Equal(3 * ShardSize, before);

        var claims = e.Evaluation.RunShards(runs.Select(r => r.RunId).ToList(), 0);
        Assert.Equal([ShardClaimResult.Done, ShardClaimResult.Done, ShardClaimResult.Claimed], claims.Select(c => c.Result));
        e.Evaluation.Evaluate(Models, set);

        // Shard 0 once more (for model 2), shard 1 (models 0 and 2), shard 2 (all): one decode per image each.
        Assert.Equal(before + 3 * ShardSize, e.Evaluation.ImagesDecoded);
        foreach (var run in runs)
        {
            Assert.Equal(RunStates.Done, e.Store.GetRun(run.RunId)!.State);
            Assert.All(e.Store.GetShards(run.RunId), s => Assert.Equal(1, s.Attempts));
        }
    }

    [Fact]
    public void A_model_that_throws_gives_its_shard_back_and_the_others_of_the_pass_commit()
    {
        using var images = EvaluationTests.SampleSubset(ShardSize);
        using var data = new TempDir();
        using var e = EvaluationTests.CreateEngine(data.Path, shardSize: ShardSize, batchSize: 8);
        var results = e.Models.Results.Where(r => Models.Contains(r.Id))
            .Select(r => r.Id == Models[1] ? r with { Classifier = new Throwing(r.Classifier!) } : r with { Classifier = new BorrowedClassifier(r.Classifier!) })
            .ToList();
        using var registry = ModelRegistry.FromResults(e.Models.ModelsRoot, results);
        var service = new EvaluationService(registry, e.Store, e.Classes, ShardSize, 8);
        var set = ImageSet.Open(images.Path, e.Classes);
        var runs = Models.Select(m => service.PlanRun(m, set).RunId).ToList();

        var error = Assert.Throws<InvalidOperationException>(() => service.RunShards(runs, 0));
        Assert.Contains("plugin failure", error.Message);

        Assert.Equal(RunStates.Done, e.Store.GetShards(runs[0])[0].State);
        Assert.Equal(RunStates.Done, e.Store.GetShards(runs[2])[0].State);
        var failed = e.Store.GetShards(runs[1])[0];
        Assert.NotEqual(RunStates.Done, failed.State);
        Assert.False(failed.HeldNow); // released at once: a retry need not wait for the lease
        Assert.Empty(e.Store.GetShardCommits(runs[1]));
    }

    /// <summary>A model plugin whose inference fails.</summary>
    private sealed class Throwing(IClassifier inner) : IClassifier
    {
        public ModelCard Card => inner.Card;
        public IExplainableClassifier? Explainable => null;
        public FloatTensor PredictProbabilities(FloatTensor images) => throw new InvalidOperationException("plugin failure in inference");
        public void Dispose() { }
    }
}
