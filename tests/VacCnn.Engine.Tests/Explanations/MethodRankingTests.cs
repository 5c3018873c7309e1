using VacCnn.Engine.Explanations;

namespace VacCnn.Engine.Tests.Explanations;

/// <summary>The method ranking of a task: per-method means of the maps' own measurements, ranked, through the queue.</summary>
public sealed class MethodRankingTests(ExplanationServiceTests.Fixture env) : IClassFixture<ExplanationServiceTests.Fixture>
{
    private ExplanationService Service => env.Env.Service;
    private static readonly string[] Models = [ExplanationEnvironment.Small, ExplanationEnvironment.Second];
    private static readonly string[] Images = [ExplanationEnvironment.Goldfish, "n01440764_tench.JPEG"];

    private async Task<RankingOutcome> UntilDone(IReadOnlyList<string> methods, bool label = false)
    {
        for (int i = 0; i < 1200; i++)
        {
            var o = Service.Rank(Models, Images, methods, label);
            Assert.InRange(o.Progress, 0, 1);
            if (o.Kind == OutcomeKind.Done) return o;
            Assert.Equal(OutcomeKind.Running, o.Kind);
            await Task.Delay(Math.Clamp(o.RetryAfterMs, 50, 500));
        }
        throw new TimeoutException("ranking");
    }

    [Fact]
    public async Task Each_method_scores_the_mean_of_its_maps_measurements_and_the_best_comes_first()
    {
        string[] methods = ["gradcam", "eigencam", "gradinput"];
        var first = Service.Rank(Models, Images, methods);
        Assert.Equal(OutcomeKind.Running, first.Kind); // nothing is computed on the caller's thread
        var o = await UntilDone(methods);
        Assert.Equal(1, o.Progress);
        Assert.Equal(methods.Order(), o.Methods.Select(m => m.Method).Order());

        foreach (var score in o.Methods)
        {
            // Independently: each map on its own (now cached), its stored measurement, the plain mean.
            var qualities = Models.SelectMany(m => Images.Select(i => Service.Request(new ExplanationQuery(m, i, score.Method))))
                .Select(r => { Assert.Equal(OutcomeKind.Done, r.Kind); return r.Result!.Quality!; }).ToList();
            Assert.Equal(4, qualities.Count);
            Assert.Equal((4, 0, 4), (score.Done, score.Failed, score.Total));
            Assert.Equal(qualities.Sum(q => q.Deletion) / 4, score.Deletion!.Value, 12);
            Assert.Equal(qualities.Sum(q => q.Insertion) / 4, score.Insertion!.Value, 12);
        }
        var margins = o.Methods.Select(m => m.Insertion!.Value - m.Deletion!.Value).ToList();
        Assert.Equal(margins.OrderByDescending(v => v), margins);
    }

    [Fact]
    public async Task Explaining_the_label_uses_each_images_ground_truth_class()
    {
        var o = await UntilDone(["gradcam"], label: true);
        var score = Assert.Single(o.Methods);
        // Goldfish is class 1, tench class 0: the same maps as asking for those classes by name.
        var named = Models.SelectMany(m => new[] { (m, ExplanationEnvironment.Goldfish, 1), (m, "n01440764_tench.JPEG", 0) })
            .Select(t => Service.Request(new ExplanationQuery(t.Item1, t.Item2, "gradcam", t.Item3)).Result!.Quality!).ToList();
        Assert.Equal(named.Average(q => q.Deletion), score.Deletion!.Value, 12);
    }

    [Fact]
    public void Bad_rankings_are_refused_before_anything_is_queued()
    {
        long before = Service.Runner.Computations;
        int queued = Service.Scheduler.Waiting;
        void Refused(RequestProblem problem, string mentioned, Action act)
        {
            var e = Assert.Throws<RequestRejectedException>(act);
            Assert.Equal(problem, e.Problem);
            Assert.Contains(mentioned, e.Message);
        }
        Refused(RequestProblem.BadRequest, "models", () => Service.Rank([], Images));
        Refused(RequestProblem.BadRequest, "images", () => Service.Rank(Models, []));
        Refused(RequestProblem.BadRequest, "listed twice", () => Service.Rank([.. Models, Models[0]], Images));
        Refused(RequestProblem.BadRequest, "at most 16 images", () => Service.Rank(Models, Enumerable.Range(0, 17).Select(i => $"x{i}.JPEG").ToList()));
        Refused(RequestProblem.NotFound, "no explanation method 'magic'", () => Service.Rank(Models, Images, ["gradcam", "magic"]));
        Refused(RequestProblem.NotFound, "no image", () => Service.Rank(Models, ["n01443537_missing.JPEG"], ["gradcam"]));
        Assert.Equal(before, Service.Runner.Computations);
        Assert.Equal(queued, Service.Scheduler.Waiting);
    }
}
