using VacCnn.Contracts;
using VacCnn.Engine.Evaluation;
using VacCnn.Engine.Explanations;
using VacCnn.Engine.Plugins;
using VacCnn.TestSupport;
using Xunit.Abstractions;

namespace VacCnn.Engine.Tests.Explanations;

/// <summary>The on-demand randomisation check: maps of randomised copies through the queue and cache, correlated with
/// the trained map; checked against the copies built and explained here directly, and a naive Spearman.</summary>
public sealed class RandomisationCheckTests(ExplanationServiceTests.Fixture env, ITestOutputHelper output) : IClassFixture<ExplanationServiceTests.Fixture>
{
    private ExplanationService Service => env.Env.Service;
    private static readonly ExplanationQuery GradCam = new(ExplanationEnvironment.Small, ExplanationEnvironment.Goldfish, "gradcam");

    private async Task<RandomisationOutcome> UntilDone(ExplanationQuery query, int layers)
    {
        for (int i = 0; i < 1200; i++)
        {
            var o = Service.CheckRandomisation(query, layers);
            Assert.InRange(o.Progress, 0, 1);
            if (o.Kind == OutcomeKind.Done) return o;
            Assert.True(o.Kind is OutcomeKind.Queued or OutcomeKind.Running, $"{o.Kind}: {o.Error}");
            Assert.Null(o.Passed);
            await Task.Delay(Math.Clamp(o.RetryAfterMs, 50, 500));
        }
        throw new TimeoutException("randomisation check");
    }

    [Fact]
    public async Task Each_step_correlates_the_trained_map_with_the_map_of_the_copy_randomised_that_deep()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var first = Service.CheckRandomisation(GradCam, 3);
        Assert.NotEqual(OutcomeKind.Done, first.Kind); // computed on the queue, not on the caller's thread
        var o = await UntilDone(GradCam, 3);
        output.WriteLine($"check with 3 steps (trained map included): {clock.ElapsedMilliseconds} ms");
        Assert.Equal([1, 2, 3], o.Levels.Select(l => l.Layers));
        Assert.All(o.Levels, l => Assert.True(l.Done));

        // The trained map is the ordinary explanation (same key), measured as usual.
        var trained = Service.Request(GradCam).Result!;
        Assert.Equal(Service.Resolve(GradCam).Key, o.Trained.Key);
        Assert.NotNull(trained.Quality);
        Assert.Equal(trained.ClassIndex, o.ClassIndex);
        Assert.Equal(4, o.Levels.Select(l => l.Target.Key).Append(o.Trained.Key).Distinct().Count());

        // Independently: the plugin's copy, explained here for the trained model's class, and a naive Spearman.
        var model = env.Env.Engine.Models.Get(ExplanationEnvironment.Small);
        var explainer = env.Env.Engine.Plugins.Explainers.Single(e => e.Id == "gradcam");
        string path = Path.Combine(env.Env.ImagesRoot, ExplanationEnvironment.Goldfish);
        var image = new ImagePreprocessor(model.Card.Preprocessing).Preprocess([path]).Tensor;
        var request = new ExplanationRequest(trained.ClassIndex, trained.Layer, 0, new Dictionary<string, double>());
        foreach (var level in o.Levels)
        {
            using var copy = model.RandomiseTopLayers(level.Layers, seed: 0);
            var expected = explainer.Explain(copy.Classifier, image, request, CancellationToken.None);
            var stored = Service.Cached(GradCam with { RandomisedLayers = level.Layers })!;
            Assert.Equal(trained.ClassIndex, stored.ClassIndex);
            Assert.Null(stored.Quality); // faithfulness to a broken model is not measured
            Assert.Equal(expected.Values, stored.CropMap.Values);
            double rho = ReferenceStatistics.Spearman(trained.CropMap.Values, expected.Values);
            output.WriteLine($"top {level.Layers} randomised ({string.Join("; ", copy.Layers)}): Spearman {level.Spearman:F4}, naive {rho:F4}");
            Assert.Equal(rho, level.Spearman!.Value, 9);
        }
        // Grad-CAM explains the model: once the classifier and the last two convolutions are shuffled the map is unrelated.
        Assert.True(o.Levels[^1].Spearman < RandomisationCheck.PassBelow, $"Spearman {o.Levels[^1].Spearman}");
        Assert.True(o.Passed);

        // Asking again is answered from the cache.
        long computations = Service.Runner.Computations;
        Assert.Equal(o.Levels.Select(l => l.Spearman), Service.CheckRandomisation(GradCam, 3).Levels.Select(l => l.Spearman));
        Assert.Equal(computations, Service.Runner.Computations);
    }

    [Fact]
    public async Task A_named_class_and_a_stochastic_method_keep_their_class_and_seed_in_every_step()
    {
        var query = new ExplanationQuery(ExplanationEnvironment.Small, "n01440764_tench.JPEG", "smoothgradcampp", ClassIndex: 0, Seed: 5,
            Settings: new Dictionary<string, double> { ["samples"] = 4 });
        var o = await UntilDone(query, 1);
        var stored = Service.Cached(query with { RandomisedLayers = 1 })!;
        Assert.Equal((0, 5), (stored.ClassIndex, stored.Seed));
        Assert.Equal(0, o.ClassIndex);
    }

    [Fact]
    public void Bad_checks_are_refused_before_anything_is_queued()
    {
        long before = Service.Runner.Computations;
        int queued = Service.Scheduler.Waiting;
        void Refused(string mentioned, Func<object> act)
        {
            var e = Assert.Throws<RequestRejectedException>(() => act());
            Assert.Equal(RequestProblem.BadRequest, e.Problem);
            Assert.Contains(mentioned, e.Message);
        }
        Refused("at least 1", () => Service.CheckRandomisation(GradCam, 0));
        Refused("from 1 to 16", () => Service.CheckRandomisation(GradCam, 17));
        Refused("starts from the trained model", () => Service.CheckRandomisation(GradCam with { RandomisedLayers = 2 }, 2));
        Refused("from 1 to 16", () => Service.Request(GradCam with { RandomisedLayers = 99 }));
        Assert.Throws<RequestRejectedException>(() => Service.CheckRandomisation(GradCam with { Method = "magic" }, 2));
        Assert.Equal(before, Service.Runner.Computations);
        Assert.Equal(queued, Service.Scheduler.Waiting);

        // A model whose plugin cannot randomise itself (the contract's default) is refused with the reason.
        var plain = new BorrowedClassifier(env.Env.Engine.Models.Get(ExplanationEnvironment.Small));
        using var registry = ModelRegistry.FromResults("borrowed", [new ModelLoadResult(plain.Card.Id, "borrowed", plain, null)]);
        var runner = new ExplanationRunner(registry, env.Env.Engine.Plugins.Explainers);
        var e = Assert.Throws<RequestRejectedException>(() => runner.Resolve(plain.Card.Id, "gradcam", null, null, 0, null, randomisedLayers: 1));
        Assert.Contains("cannot randomise its weights", e.Message);
        Assert.Throws<NotSupportedException>(() => ((IClassifier)plain).RandomiseTopLayers(1, 0));
    }
}
