using Microsoft.AspNetCore.Authorization;
using VacCnn.Web.Security;
using Hangfire;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using VacCnn.Engine.Explanations;
using VacCnn.Engine.Jobs;
using VacCnn.Engine.Store;
using VacCnn.Web.Services;

namespace VacCnn.Web.Pages;

/// <summary>
/// The admin page: evaluation runs with live progress, buttons to evaluate now, and recurring schedules.
/// POSTs follow post-redirect-get; invalid input re-renders the page with status 400 and the reason.
/// </summary>
[Authorize(Policy = AdminAccess.AdminPolicy)]
public sealed class AdminModel(VacCnnQueries queries, EvaluationJobs jobs, ResultStore store, IRecurringJobManager recurring,
    ExplanationPrecompute precompute, ExplanationService explanations, ILogger<AdminModel> logger) : PageModel
{
    /// <summary>Longest cron expression accepted (a sanity bound on form input).</summary>
    public const int MaxCronLength = 100;

    /// <summary>Runs, newest first.</summary>
    public IReadOnlyList<RunView> Runs { get; private set; } = [];

    /// <summary>Skipped files of runs that have any.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<SkipView>> Skips { get; private set; } = new Dictionary<string, IReadOnlyList<SkipView>>();

    /// <summary>Saved schedules.</summary>
    public IReadOnlyList<ScheduleView> Schedules { get; private set; } = [];

    /// <summary>Jobs Hangfire gave up on: how many, and the latest few.</summary>
    public (long Total, IReadOnlyList<FailedJobView> Recent) FailedJobs { get; private set; } = (0, []);

    /// <summary>Loaded model ids, for the selects.</summary>
    public IReadOnlyList<string> ModelIds { get; private set; } = [];

    /// <summary>Explanation methods, for the precompute form.</summary>
    public IReadOnlyList<string> MethodIds { get; private set; } = [];

    /// <summary>Precompute batches of explanations, newest first.</summary>
    public IReadOnlyList<BatchView> Batches { get; private set; } = [];

    /// <summary>The configured image set.</summary>
    public ImageSetView ImageSet { get; private set; } = null!;

    /// <summary>Outcome of the last action (survives the redirect).</summary>
    [TempData] public string? Message { get; set; }

    /// <summary>Failure of the last action (survives the redirect).</summary>
    [TempData] public string? ActionError { get; set; }

    /// <summary>Why this request was rejected (shown with status 400).</summary>
    public string? RequestError { get; private set; }

    /// <summary>Cron text to put back into the form after a rejected request.</summary>
    public string? CronInput { get; private set; }

    /// <summary>Shows the page.</summary>
    public void OnGet() => Load();

    /// <summary>Plans every loaded model on the current image set and queues the unfinished shards.</summary>
    public IActionResult OnPostEvaluateAll()
    {
        var ids = queries.LoadedModelIds();
        var queued = new List<string>();
        var done = new List<string>();
        var failed = new List<string>();
        // All models in one go: their shards share passes over the images (one decode per image for all models).
        // A model that cannot be planned is reported and does not stop the others.
        foreach (var p in jobs.EvaluateModels(ids))
        {
            if (p.RunId == null)
            {
                logger.LogWarning("cannot queue the evaluation of {Model}: {Error}", p.ModelId, p.Error);
                failed.Add($"{p.ModelId}: {p.Error}");
            }
            else (store.GetRun(p.RunId)?.State == RunStates.Done ? done : queued).Add(p.ModelId);
        }
        Message = $"Queued {queued.Count} model(s)" + (done.Count > 0 ? $"; {done.Count} already evaluated on this image set" : "") + ".";
        if (failed.Count > 0) ActionError = "Not queued: " + string.Join(" | ", failed);
        return RedirectToPage();
    }

    /// <summary>Plans one model on the current image set and queues its unfinished shards.</summary>
    public IActionResult OnPostEvaluateModel(string? modelId)
    {
        if (string.IsNullOrWhiteSpace(modelId)) return Reject("Choose a model to evaluate.");
        if (!queries.IsLoadedModel(modelId)) return Reject($"Unknown model '{modelId}': it is not among the loaded models.");
        try
        {
            string runId = jobs.EvaluateModel(modelId);
            Message = store.GetRun(runId)?.State == RunStates.Done
                ? $"{modelId} is already evaluated on this image set (run {runId})."
                : $"Queued the evaluation of {modelId} (run {runId}).";
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "cannot queue the evaluation of {Model}", modelId);
            ActionError = $"Cannot evaluate {modelId}: {e.Message}";
        }
        return RedirectToPage();
    }

    /// <summary>Adds a recurring evaluation of one model or of all models.</summary>
    public IActionResult OnPostAddSchedule(string? cron, string? modelId)
    {
        cron = NormaliseCron(cron);
        modelId = string.IsNullOrWhiteSpace(modelId) ? null : modelId.Trim();
        CronInput = cron;
        if (cron.Length == 0) return Reject("Enter a cron expression, e.g. '0 3 * * *' (every day at 03:00 UTC).");
        if (cron.Length > MaxCronLength) return Reject(CronTooLong);
        if (modelId != null && !queries.IsLoadedModel(modelId)) return Reject($"Unknown model '{modelId}': it is not among the loaded models.");

        return AddSchedule(new ScheduleInfo($"vaccnn-{modelId ?? "all"}-{Guid.NewGuid().ToString("N")[..8]}", cron, modelId, DateTime.UtcNow),
            $"evaluation of {modelId ?? "all models"}");
    }

    // One space between fields, as Hangfire and the schedules table show it.
    private static string NormaliseCron(string? cron) => string.Join(' ', (cron ?? "").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    private static readonly string CronTooLong = $"The cron expression is longer than {MaxCronLength} characters.";

    private IActionResult AddSchedule(ScheduleInfo schedule, string what)
    {
        // Registering first validates the expression with Hangfire's own parser; only valid schedules are saved.
        try { RunRecovery.Register(recurring, schedule); }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException)
        {
            return Reject($"'{schedule.Cron}' is not a valid cron expression: {e.Message}");
        }
        try { store.SaveSchedule(schedule); }
        catch
        {
            recurring.RemoveIfExists(schedule.Id);
            throw;
        }
        CronInput = null;
        Message = $"Added schedule '{schedule.Cron}': {what}.";
        return RedirectToPage();
    }

    /// <summary>
    /// Starts (or resumes) a precompute batch: the chosen models × methods over the images of the classes listed, or
    /// the images listed, or every image; finished explanations are not recomputed.
    /// </summary>
    public IActionResult OnPostPrecompute(string[]? models, string[]? methods, string? classes, string? images, string? cron)
    {
        var spec = new PrecomputeSpec { Models = [.. models ?? []], Methods = [.. methods ?? []] };
        foreach (string c in Split(classes))
        {
            if (!int.TryParse(c, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int index))
                return Reject($"Classes must be class indices separated by commas, got '{c}'.");
            spec.Classes.Add(index);
        }
        spec.Images.AddRange(Split(images));
        cron = NormaliseCron(cron);
        if (cron.Length > MaxCronLength) return Reject(CronTooLong);
        try
        {
            if (cron.Length > 0)
            {
                _ = precompute.Items(spec); // a bad selection is refused now, not at 3 a.m.
                return AddSchedule(new ScheduleInfo($"vaccnn-precompute-{Guid.NewGuid().ToString("N")[..8]}", cron, null, DateTime.UtcNow,
                    ExplanationPrecompute.ToJson(spec)), $"precompute {spec}");
            }
            string id = precompute.Start(spec);
            Message = $"Started precompute batch {id}: {spec}.";
        }
        catch (VacCnn.Engine.RequestRejectedException e) { return Reject("Cannot precompute: " + e.Message); }
        return RedirectToPage();
    }

    private static string[] Split(string? text) => (text ?? "").Split([',', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Removes a schedule from Hangfire and from the store.</summary>
    public IActionResult OnPostDeleteSchedule(string? id)
    {
        if (string.IsNullOrWhiteSpace(id) || store.ListSchedules().All(s => s.Id != id)) return Reject($"Unknown schedule '{id}'.");
        recurring.RemoveIfExists(id);
        store.DeleteSchedule(id);
        Message = "Schedule deleted.";
        return RedirectToPage();
    }

    private PageResult Reject(string message)
    {
        RequestError = message;
        Response.StatusCode = StatusCodes.Status400BadRequest;
        Load();
        return Page();
    }

    private void Load()
    {
        ImageSet = queries.ImageSet();
        ModelIds = queries.LoadedModelIds();
        MethodIds = [.. explanations.Runner.Explainers.Select(e => e.Id)];
        Batches = queries.Batches();
        Runs = queries.Runs();
        Skips = Runs.Where(r => r.Skipped > 0).ToDictionary(r => r.RunId, r => queries.Skips(r.RunId));
        Schedules = queries.Schedules();
        FailedJobs = queries.FailedJobs();
    }
}
