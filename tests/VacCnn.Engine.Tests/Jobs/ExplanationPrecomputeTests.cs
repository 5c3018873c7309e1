using VacCnn.Engine.Explanations;
using VacCnn.Engine.Jobs;
using VacCnn.Engine.Store;
using VacCnn.Engine.Tests.Explanations;

namespace VacCnn.Engine.Tests.Jobs;

/// <summary>
/// Precompute batches on real Hangfire servers (in-memory storage) with the two small shared models and four real
/// photos: progress counted in the store, nothing computed twice, a batch cut short resumes with only what is left,
/// and the maps equal a direct computation.
/// </summary>
public sealed class ExplanationPrecomputeTests
{
    private static readonly PrecomputeSpec TwoModels = new()
    {
        Models = [ExplanationEnvironment.Second, ExplanationEnvironment.Small], Methods = ["gradcam"], Images = [.. ExplanationEnvironment.Photos],
    };

    private static async Task<BatchInfo> Finished(ResultStore store, string id)
    {
        // The batch's own state decides; the bound only stops a hung test.
        for (int i = 0; i < 1200; i++)
        {
            var batch = store.GetBatch(id)!;
            if (batch.State != RunStates.Running) return batch;
            await Task.Delay(100);
        }
        throw new TimeoutException($"batch {id} still running: {store.GetBatch(id)}");
    }

    [Fact]
    public async Task A_batch_explains_models_times_methods_times_images_once_and_the_maps_are_then_served_from_the_store()
    {
        using var env = new ExplanationEnvironment();
        string id = env.Precompute.Start(TwoModels);
        var batch = await Finished(env.Engine.Store, id);
        Assert.Equal((RunStates.Done, 8, 8, 0), (batch.State, batch.Total, batch.Done, batch.Failed));
        Assert.Equal(8, env.Service.Runner.Computations);

        // The same selection written differently is the same batch, and starting it again computes nothing.
        var again = new PrecomputeSpec { Models = [ExplanationEnvironment.Small, ExplanationEnvironment.Second, ExplanationEnvironment.Small], Methods = ["gradcam"], Images = [.. ExplanationEnvironment.Photos.Reverse()] };
        Assert.Equal(id, env.Precompute.Start(again));
        Assert.Equal(RunStates.Done, (await Finished(env.Engine.Store, id)).State);
        Assert.Equal(8, env.Service.Runner.Computations);

        // A fresh host (empty memory, same store) serves every map at once, for the class the Compare page asks.
        var web = env.NewService();
        foreach (string model in TwoModels.Models)
            foreach (string photo in ExplanationEnvironment.Photos)
            {
                int label = env.Service.Images.Label(photo)!.ClassIndex;
                var outcome = web.Request(new ExplanationQuery(model, photo, "gradcam", ClassIndex: label));
                Assert.True(outcome.Kind == OutcomeKind.Done, $"{model} {photo}: {outcome.Kind}");
                Assert.Equal(label, outcome.Result!.ClassIndex);
            }
        Assert.Equal(0, web.Runner.Computations);

        // Stored maps equal a direct computation (the runner outside any job).
        var kite = new ExplanationQuery(ExplanationEnvironment.Second, "n01608432_kite.JPEG", "gradcam", ClassIndex: env.Service.Images.Label("n01608432_kite.JPEG")!.ClassIndex);
        var target = web.Resolve(kite);
        var direct = web.Runner.Explain(target.What, target.ImagePath, target.Key, CancellationToken.None);
        Assert.Equal(direct.CropMap.Values, web.Request(kite).Result!.CropMap.Values);
    }

    [Fact]
    public async Task A_batch_cut_short_resumes_with_only_the_unfinished_items_and_a_broken_image_is_a_recorded_failure()
    {
        using var env = new ExplanationEnvironment();
        env.StopWorkers(); // this test plays the worker that was killed
        var store = env.Engine.Store;
        var spec = new PrecomputeSpec { Models = [ExplanationEnvironment.Small], Methods = ["gradcam", "gradcampp"], Images = [.. ExplanationEnvironment.Photos] };
        var items = env.Precompute.Items(spec);
        Assert.Equal(8, items.Count);
        string id = env.Precompute.Start(spec); // recorded and its planning queued, but no server takes it
        // Three items finished before the kill; the fourth was computed and stored but not yet recorded.
        foreach (var (name, item) in items.Take(3)) env.Precompute.ExplainItem(id, name, item, CancellationToken.None);
        env.Service.ComputeAndStore(env.Service.Resolve(items[3].Spec.ToQuery()), CancellationToken.None);
        Assert.Equal(4, env.Service.Runner.Computations);
        Assert.Equal((RunStates.Running, 3), (store.GetBatch(id)!.State, store.GetBatch(id)!.Done));

        // A photo whose Grad-CAM++ is still to do is damaged meanwhile (a changed file is a new image: its key differs).
        string broken = items[6].Spec.Image;
        Assert.Equal(items[2].Spec.Image, broken); // its Grad-CAM was recorded before the kill and is not redone
        File.WriteAllBytes(Path.Combine(env.ImagesRoot, broken), [0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3]);

        // Restart: the recovery plans the batch again; only the 5 unrecorded items run, one of them finds its map stored.
        Assert.Equal(5, env.Precompute.Plan(id));
        foreach (var (name, item) in items.Skip(3)) env.Precompute.ExplainItem(id, name, item, CancellationToken.None);
        var batch = store.GetBatch(id)!;
        Assert.Equal((RunStates.Failed, 8, 7, 1), (batch.State, batch.Total, batch.Done, batch.Failed));
        Assert.Equal(4 + 3, env.Service.Runner.Computations); // items 5, 6, 8 computed; item 4 found, item 7 failed on decode
        var failure = Assert.Single(store.BatchFailures(id));
        Assert.Equal(items[6].Name, failure.Item);
        Assert.False(string.IsNullOrWhiteSpace(failure.Error));
        Assert.Equal(0, env.Precompute.Plan(id)); // nothing left, and the failure is not retried by planning alone
    }

    [Fact]
    public void A_selection_with_an_unknown_model_method_class_or_image_is_refused_before_anything_is_recorded()
    {
        using var env = new ExplanationEnvironment();
        void Refused(PrecomputeSpec spec, string text) =>
            Assert.Contains(text, Assert.Throws<RequestRejectedException>(() => env.Precompute.Start(spec)).Message);
        Refused(new() { Models = ["no-such-model"], Methods = ["gradcam"] }, "no-such-model");
        Refused(new() { Models = [ExplanationEnvironment.Small], Methods = ["no-such-method"] }, "no-such-method");
        Refused(new() { Models = [ExplanationEnvironment.Small], Methods = ["gradcam"], Classes = [1000] }, "out of range");
        Refused(new() { Models = [ExplanationEnvironment.Small], Methods = ["gradcam"], Images = ["../../etc/passwd"] }, "no image");
        Refused(new() { Models = [ExplanationEnvironment.Small], Methods = ["gradcam"], Classes = [999] }, "no images");
        Refused(new() { Methods = ["gradcam"] }, "at least one model");
        Assert.Empty(env.Engine.Store.ListBatches());
    }
}
