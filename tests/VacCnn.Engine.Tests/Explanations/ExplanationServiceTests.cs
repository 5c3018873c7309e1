using Hangfire;
using Hangfire.InMemory;
using SixLabors.ImageSharp;
using VacCnn.Engine.Configuration;
using VacCnn.Engine.Explanations;
using VacCnn.Engine.Jobs;
using VacCnn.TestSupport;

namespace VacCnn.Engine.Tests.Explanations;

/// <summary>
/// A small real set-up: two real models (symbolic links into ../shared/data/models), four real ImageNet photos
/// copied into a temporary images root, a temporary data folder, and real Hangfire job servers in this process (in
/// memory storage) serving the explanation lanes as the web host's do.
/// </summary>
public sealed class ExplanationEnvironment : IDisposable
{
    /// <summary>The smallest shared model (128 × 128 input): fast explanations.</summary>
    public const string Small = "mobilenet_v1_0.25_128_quant";
    /// <summary>A second model with a different input size (160 × 160).</summary>
    public const string Second = "mobilenet_v1_0.5_160_quant";
    /// <summary>A 376 × 263 photo of a goldfish (class 1).</summary>
    public const string Goldfish = "n01443537_goldfish.JPEG";

    private readonly TempDir _models = new("vaccnn-expl-models");
    private readonly TempDir _images = new("vaccnn-expl-images");

    public ExplanationEnvironment(int capacity = 8, int workers = 1)
    {
        foreach (string id in new[] { Small, Second })
            Directory.CreateSymbolicLink(_models.Combine(id), Path.Combine(TestPaths.Models, id));
        foreach (string name in Photos)
            File.Copy(Path.Combine(TestPaths.ImageNetSamples, name), _images.Combine(name));
        Engine = VacCnnEngine.Create(new VacCnnOptions
        {
            Models = _models.Path, Images = _images.Path, ImageNet = TestPaths.ImageNet, Data = Data.Path, Plugins = TestPaths.Plugins,
            Device = Contracts.ExecutionDevice.Cpu, ExplanationQueueCapacity = capacity, ExplanationWorkers = workers,
        });
        Service = NewService();
        Precompute = new ExplanationPrecompute(Service, Engine.Store, new BackgroundJobClient(Storage));
        var activator = new InstanceActivator(new ExplanationJobs(Service), Precompute);
        _servers.Add(new BackgroundJobServer(new BackgroundJobServerOptions
        {
            WorkerCount = workers, Activator = activator, Queues = [ExplanationLanes.HeavyQueue, ExplanationLanes.PrecomputeQueue],
            ServerName = "test-explain",
        }, Storage));
        _servers.Add(new BackgroundJobServer(new BackgroundJobServerOptions
        {
            WorkerCount = 1, Activator = activator, Queues = [ExplanationLanes.InteractiveQueue], ServerName = "test-interactive",
        }, Storage));
    }

    private readonly List<BackgroundJobServer> _servers = [];

    /// <summary>The job storage the servers take work from.</summary>
    public InMemoryStorage Storage { get; } = new();

    /// <summary>A service over the same engine and data folder with a scheduler of its own (empty memory, same jobs).</summary>
    public ExplanationService NewService() => ExplanationService.Create(Engine,
        new HangfireExplanationScheduler(new BackgroundJobClient(Storage), Storage, Engine.Options.ExplanationQueueCapacity));

    /// <summary>Stops the job servers (running explainers are cancelled).</summary>
    public void StopWorkers()
    {
        foreach (var s in _servers) s.Dispose();
        _servers.Clear();
    }

    /// <summary>Precompute batches over <see cref="Service"/>, run by this environment's job servers.</summary>
    public ExplanationPrecompute Precompute { get; }

    /// <summary>The four photos of the images root.</summary>
    public static readonly string[] Photos = [Goldfish, "n02007558_flamingo.JPEG", "n01440764_tench.JPEG", "n01608432_kite.JPEG"];

    public TempDir Data { get; } = new("vaccnn-expl-data");
    public string ImagesRoot => _images.Path;
    public VacCnnEngine Engine { get; }
    public ExplanationService Service { get; }

    /// <summary>Asks until done (the stored map, not a timer, decides; the bound only stops a hung test).</summary>
    public static async Task<ExplanationResult> Done(ExplanationService service, ExplanationQuery query)
    {
        var outcome = await service.RequestAsync(service.Resolve(query), TimeSpan.FromMinutes(5));
        Assert.True(outcome.Kind == OutcomeKind.Done, $"{outcome.Kind}: {outcome.Error}");
        return outcome.Result!;
    }

    public void Dispose()
    {
        StopWorkers();
        Engine.Dispose();
        _models.Dispose();
        _images.Dispose();
        Data.Dispose();
    }
}

public sealed class ExplanationServiceTests(ExplanationServiceTests.Fixture env) : IClassFixture<ExplanationServiceTests.Fixture>
{
    public sealed class Fixture : IDisposable
    {
        public ExplanationEnvironment Env { get; } = new();
        public void Dispose() => Env.Dispose();
    }

    private ExplanationService Service => env.Env.Service;

    [Fact]
    public async Task Runner_map_is_in_unit_range_at_the_original_resolution_and_zero_outside_the_centre_crop()
    {
        var result = await ExplanationEnvironment.Done(Service, new(ExplanationEnvironment.Small, ExplanationEnvironment.Goldfish, "gradcam"));
        var info = Image.Identify(Path.Combine(env.Env.ImagesRoot, ExplanationEnvironment.Goldfish));
        var map = result.Map;
        Assert.Equal((info.Width, info.Height), (map.Width, map.Height));
        Assert.Equal(376, map.Width); // a landscape picture: the crop leaves margins left and right
        Assert.All(map.Values, v => Assert.InRange(v, 0f, 1f));

        // Independent geometry: resize the shorter side to 146, centre-crop 128 → a square of side 128·263/146 in the
        // original, centred. Allow one pixel for the preprocessor's integer rounding.
        double side = 128.0 * info.Height / 146, x0 = (info.Width - side) / 2, y0 = (info.Height - side) / 2;
        double insideSum = 0;
        int inside = 0;
        for (int y = 0; y < map.Height; y++)
            for (int x = 0; x < map.Width; x++)
            {
                double cx = x + 0.5, cy = y + 0.5;
                float v = map.Values[y * map.Width + x];
                if (cx < x0 - 1 || cx > x0 + side + 1 || cy < y0 - 1 || cy > y0 + side + 1) Assert.Equal(0f, v);
                else if (cx > x0 + 1 && cx < x0 + side - 1 && cy > y0 + 1 && cy < y0 + side - 1) { insideSum += v; inside++; }
            }
        Assert.True(x0 > 50, "the test needs a real margin outside the crop");
        // Stretching the crop map over the crop keeps its mean (bilinear resampling is close to area-preserving).
        double cropMean = result.CropMap.Values.Average(v => (double)v);
        Assert.InRange(insideSum / inside, cropMean - 0.02, cropMean + 0.02);
        Assert.True(map.Values.Max() > 0.9f);
        // The prediction reported beside the map: the model's top class is goldfish (class 1) for this photo.
        Assert.Equal(1, result.PredictedIndex);
        Assert.Equal(result.PredictedIndex, result.ClassIndex);
        Assert.Equal(result.PredictedProbability, result.Probability);
    }

    [Fact]
    public async Task Cache_hit_returns_the_identical_map_without_recomputation_and_a_changed_setting_misses()
    {
        var query = new ExplanationQuery(ExplanationEnvironment.Small, "n01440764_tench.JPEG", "smoothgradcampp",
            Settings: new Dictionary<string, double> { ["samples"] = 2 });
        long before = Service.Runner.Computations;
        var first = await ExplanationEnvironment.Done(Service, query);
        Assert.Equal(before + 1, Service.Runner.Computations);

        var again = Service.Request(query);
        Assert.Equal(OutcomeKind.Done, again.Kind);
        Assert.Equal(first.Map.Values, again.Result!.Map.Values);
        Assert.Equal(before + 1, Service.Runner.Computations);

        // The default written out explicitly is the same request.
        var explicitDefaults = query with { Settings = new Dictionary<string, double> { ["samples"] = 2, ["spread"] = 0.15, ["batch"] = 8 } };
        Assert.Equal(OutcomeKind.Done, Service.Request(explicitDefaults).Kind);

        // A fresh service (empty memory) over the same data folder reads the file: same values, nothing computed.
        Assert.True(File.Exists(Path.Combine(env.Env.Data.Path, "explanations", first.Key[..2], first.Key + ".vxm")));
        {
            var fresh = env.Env.NewService();
            var fromDisk = fresh.Request(query);
            Assert.Equal(OutcomeKind.Done, fromDisk.Kind);
            Assert.Equal(first.Map.Values, fromDisk.Result!.Map.Values);
            Assert.Equal(first.Probability, fromDisk.Result.Probability);
            Assert.Equal(first.Layer, fromDisk.Result.Layer);
            Assert.Equal(0, fresh.Runner.Computations);
        }

        foreach (var changed in new[]
                 {
                     query with { Settings = new Dictionary<string, double> { ["samples"] = 3 } },
                     query with { Seed = 7 },
                     query with { ClassIndex = 0 },
                 })
        {
            long n = Service.Runner.Computations;
            var outcome = Service.Request(changed);
            Assert.NotEqual(OutcomeKind.Done, outcome.Kind);
            Assert.NotEqual(first.Key, outcome.Target.Key);
            await ExplanationEnvironment.Done(Service, changed);
            Assert.Equal(n + 1, Service.Runner.Computations);
        }
    }

    [Theory]
    [InlineData("nope", ExplanationEnvironment.Goldfish, "gradcam", null, null, null, RequestProblem.NotFound, "nope")]
    [InlineData(ExplanationEnvironment.Small, ExplanationEnvironment.Goldfish, "magic", null, null, null, RequestProblem.NotFound, "magic")]
    [InlineData(ExplanationEnvironment.Small, "../n01443537_goldfish.JPEG", "gradcam", null, null, null, RequestProblem.NotFound, "image")]
    [InlineData(ExplanationEnvironment.Small, ExplanationEnvironment.Goldfish, "gradcam", 1000, null, null, RequestProblem.BadRequest, "0..999")]
    [InlineData(ExplanationEnvironment.Small, ExplanationEnvironment.Goldfish, "gradcam", -1, null, null, RequestProblem.BadRequest, "out of range")]
    [InlineData(ExplanationEnvironment.Small, ExplanationEnvironment.Goldfish, "gradcam", null, "no_such_layer", null, RequestProblem.BadRequest, "no_such_layer")]
    [InlineData(ExplanationEnvironment.Small, ExplanationEnvironment.Goldfish, "smoothgradcampp", null, null, "samples=0", RequestProblem.BadRequest, "between 1 and 500")]
    [InlineData(ExplanationEnvironment.Small, ExplanationEnvironment.Goldfish, "smoothgradcampp", null, null, "samples=501", RequestProblem.BadRequest, "between 1 and 500")]
    [InlineData(ExplanationEnvironment.Small, ExplanationEnvironment.Goldfish, "bbmp", null, null, "iterations=100000", RequestProblem.BadRequest, "iterations")]
    [InlineData(ExplanationEnvironment.Small, ExplanationEnvironment.Goldfish, "gradcam", null, null, "samples=3", RequestProblem.BadRequest, "no setting 'samples'")]
    public void Bad_requests_are_rejected_before_any_work(string model, string image, string method, int? cls, string? layer, string? setting,
        RequestProblem problem, string mentioned)
    {
        var settings = new Dictionary<string, double>();
        if (setting != null) settings[setting.Split('=')[0]] = double.Parse(setting.Split('=')[1], System.Globalization.CultureInfo.InvariantCulture);
        int waiting = Service.Scheduler.Waiting;
        var e = Assert.Throws<RequestRejectedException>(() => Service.Request(new ExplanationQuery(model, image, method, cls, layer, 0, settings)));
        Assert.Equal(problem, e.Problem);
        Assert.Contains(mentioned, e.Message);
        Assert.Equal(waiting, Service.Scheduler.Waiting);
    }

    [Fact]
    public void Similarity_rejects_too_many_models_and_unknown_metrics()
    {
        var many = Enumerable.Range(0, ExplanationService.MaxModels + 1).Select(i => $"m{i}").ToList();
        var e = Assert.Throws<RequestRejectedException>(() => Service.Similarity(many, ExplanationEnvironment.Goldfish, "gradcam", "ssim"));
        Assert.Equal(RequestProblem.BadRequest, e.Problem);
        Assert.Contains("at most 64", e.Message);
        var e2 = Assert.Throws<RequestRejectedException>(() =>
            Service.Similarity([ExplanationEnvironment.Small], ExplanationEnvironment.Goldfish, "gradcam", "cosine"));
        Assert.Equal(RequestProblem.NotFound, e2.Problem);
    }
}

/// <summary>
/// The lanes and the bounded queue, on real Hangfire servers, with a slow method: identical requests share a job, a
/// full queue refuses, and a cheap request is answered while the expensive lane is busy.
/// </summary>
public sealed class ExplanationLaneTests
{
    private static ExplanationQuery Slow(int seed) => new(ExplanationEnvironment.Small, ExplanationEnvironment.Goldfish, "bbmp", Seed: seed,
        Settings: new Dictionary<string, double> { ["iterations"] = 5000 });

    private static async Task<ExplanationWork> WaitWhileQueued(ExplanationService service, string key)
    {
        var work = service.Scheduler.Find(key)!;
        for (int i = 0; i < 600 && work.State == ExplanationState.Queued; i++)
        {
            await Task.Delay(50);
            work = service.Scheduler.Find(key)!;
        }
        return work;
    }

    [Fact]
    public async Task Identical_requests_share_one_job_a_full_queue_refuses_and_a_cheap_request_passes_the_busy_heavy_lane()
    {
        using var env = new ExplanationEnvironment(capacity: 1, workers: 1);
        var service = env.Service;
        var a = service.Request(Slow(1));
        Assert.Equal(OutcomeKind.Queued, a.Kind);
        string jobA = service.Scheduler.Find(a.Target.Key)!.JobId;
        Assert.Equal(ExplanationLane.Heavy, service.Scheduler.Find(a.Target.Key)!.Lane);
        // Wait (bounded) for the worker to take it: then the one waiting place is free again.
        Assert.Equal(ExplanationState.Running, (await WaitWhileQueued(service, a.Target.Key)).State);
        Assert.Equal(OutcomeKind.Running, service.Request(Slow(1)).Kind);
        Assert.Equal(jobA, service.Scheduler.Find(a.Target.Key)!.JobId);
        Assert.Equal(ExplanationLanes.HeavyQueue, JobQueue(env, jobA));

        var b = service.Request(Slow(2));
        Assert.Equal(OutcomeKind.Queued, b.Kind);
        Assert.Equal(1, service.Scheduler.Waiting);
        var b2 = service.Request(Slow(2)); // the same request again: no second job
        Assert.Equal(OutcomeKind.Queued, b2.Kind);
        Assert.Equal(1, service.Scheduler.Waiting);
        Assert.Equal(service.Scheduler.Find(b.Target.Key)!.JobId, service.Scheduler.Find(b2.Target.Key)!.JobId);

        var c = service.Request(Slow(3));
        Assert.Equal(OutcomeKind.Full, c.Kind);
        Assert.True(c.RetryAfterMs >= 1000);
        Assert.Contains("full", c.Error);
        Assert.Null(service.Scheduler.Find(c.Target.Key));
        Assert.Equal(1, service.Scheduler.Waiting);

        // Grad-CAM goes to the interactive lane and is done while the BBMP still runs and the other waits.
        var cheap = service.Resolve(new ExplanationQuery(ExplanationEnvironment.Small, ExplanationEnvironment.Goldfish, "gradcam", ClassIndex: 2));
        var done = await service.RequestAsync(cheap, TimeSpan.FromMinutes(2));
        Assert.True(done.Kind == OutcomeKind.Done, $"{done.Kind}: {done.Error}");
        Assert.Equal(VacCnn.Engine.Store.ShardOwner.ThisWorker, done.Result!.ComputedBy);
        Assert.Equal(ExplanationState.Running, service.Scheduler.Find(a.Target.Key)!.State);
        Assert.Equal(ExplanationState.Queued, service.Scheduler.Find(b.Target.Key)!.State);
        env.StopWorkers(); // cancels the running explainer
    }

    [Fact]
    public async Task A_failing_explanation_reports_the_reason_from_the_job_and_is_not_retried()
    {
        using var env = new ExplanationEnvironment();
        var target = env.Service.Resolve(new ExplanationQuery(ExplanationEnvironment.Small, "n01440764_tench.JPEG", "gradcam"));
        // The file is damaged after the request was validated: the worker's decode fails.
        File.WriteAllBytes(target.ImagePath, [0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3]);
        var outcome = await env.Service.RequestAsync(target, TimeSpan.FromMinutes(2));
        Assert.Equal(OutcomeKind.Failed, outcome.Kind);
        Assert.False(string.IsNullOrWhiteSpace(outcome.Error));
        var job = env.Service.Scheduler.Find(target.Key)!;
        using var connection = env.Storage.GetConnection();
        Assert.Equal("Failed", connection.GetJobData(job.JobId)!.State);
        Assert.Equal(0, env.Service.Runner.Computations);
    }

    private static string JobQueue(ExplanationEnvironment env, string jobId)
    {
        // The queue is recorded with the job's Enqueued state, in its history.
        var history = env.Storage.GetMonitoringApi().JobDetails(jobId).History;
        return history.First(h => h.StateName == "Enqueued").Data["Queue"];
    }
}
