using System.Globalization;
using Hangfire;
using Microsoft.AspNetCore.Mvc;
using VacCnn.Engine;
using VacCnn.Engine.Analytics;
using VacCnn.Engine.Jobs;

namespace VacCnn.Web.Api;

/// <summary>
/// The analytics JSON API (README, "Analytics API"): classes, overview, per-class accuracy, the class distribution
/// graph, the cross-model pickers, confusions and model agreement. Answers come from cached results (see
/// <see cref="AnalyticsQueries"/>); a graph not computed yet is answered with status "pending" and queued.
/// Unknown models are 404, bad parameters 400, both as problem details.
/// </summary>
public static class AnalyticsEndpoints
{
    /// <summary>Registers the analytics services and the Hangfire job they queue.</summary>
    public static IServiceCollection AddVacCnnAnalytics(this IServiceCollection services)
    {
        services.AddSingleton(sp => sp.GetRequiredService<VacCnnEngine>().Analytics);
        services.AddTransient<AnalyticsJobs>();
        services.AddSingleton(sp => new CurrentRuns(sp.GetRequiredService<VacCnnEngine>(), sp.GetRequiredService<ImageSetProvider>()));
        services.AddSingleton(sp =>
        {
            var engine = sp.GetRequiredService<VacCnnEngine>();
            var current = sp.GetRequiredService<CurrentRuns>();
            var jobs = sp.GetRequiredService<IBackgroundJobClient>();
            return new AnalyticsQueries(engine.Classes, engine.Analytics, current.Models, (run, options) => AnalyticsJobs.Queue(jobs, run.RunId, options));
        });
        return services;
    }

    /// <summary>Maps the analytics endpoints under <paramref name="api"/> (the /api group, whose filter turns rejected
    /// requests into problem details).</summary>
    public static RouteGroupBuilder MapAnalyticsApi(this RouteGroupBuilder api)
    {
        const int Bad = StatusCodes.Status400BadRequest, NotFound = StatusCodes.Status404NotFound;
        api.MapGet("/classes", (AnalyticsQueries q) => TypedResults.Ok(q.Classes())).WithSummary("The 1000 classes with their WordNet roots")
            .ProducesProblems();
        api.MapGet("/overview", (AnalyticsQueries q) => TypedResults.Ok(q.Overview())).WithSummary("Accuracy, complexity and root-class accuracy of every model")
            .ProducesProblems();
        api.MapGet("/models/{id}/classes", (string id, string? root, AnalyticsQueries q) =>
                TypedResults.Ok(q.ModelClasses(id, string.IsNullOrWhiteSpace(root) ? null : root)))
            .WithSummary("Per-class accuracy of one model, optionally under one root").ProducesProblems(Bad, NotFound);
        api.MapGet("/models/{id}/graph", (string id, string? method, string? perplexity, string? seed, string? init, AnalyticsQueries q) =>
                TypedResults.Ok(q.Graph(id, GraphOptions(method, perplexity, seed, init))))
            .WithSummary("The class distribution graph of one model (t-SNE); 'pending' while it is computed").ProducesProblems(Bad, NotFound);
        api.MapGet("/compare/graphs", (string? a, string? b, string? method, string? perplexity, string? seed, string? init, string? top,
                [FromQuery(Name = "class")] string? cls, AnalyticsQueries q) =>
                TypedResults.Ok(q.CompareGraphs(Required(a, "a"), Required(b, "b"), GraphOptions(method, perplexity, seed, init), Int(top, "top", 20),
                    focus: string.IsNullOrWhiteSpace(cls) ? null : Int(cls, "class", null))))
            .WithSummary("Two models' distribution graphs side by side, with the classes whose neighbourhoods differ most")
            .ProducesProblems(Bad, NotFound);
        api.MapGet("/models/{id}/confusions", (string id, [FromQuery(Name = "class")] string? cls, string? top, AnalyticsQueries q) =>
                TypedResults.Ok(q.ConfusionsOf(id, Int(cls, "class", null), Int(top, "top", 5))))
            .WithSummary("The classes one model confuses a class with").ProducesProblems(Bad, NotFound);
        api.MapGet("/compare/range", (string? models, AnalyticsQueries q) => TypedResults.Ok(q.Range(Ids(models))))
            .WithSummary("Classes ordered by the range of their accuracy over the models").ProducesProblems(Bad, NotFound);
        api.MapGet("/compare/average", (string? models, AnalyticsQueries q) => TypedResults.Ok(q.Average(Ids(models))))
            .WithSummary("Classes ordered by their average accuracy over the models").ProducesProblems(Bad, NotFound);
        api.MapGet("/compare/agreement", (string? models, AnalyticsQueries q) => TypedResults.Ok(q.Agreement(Ids(models))))
            .WithSummary("How often each pair of models predicts the same class").ProducesProblems(Bad, NotFound);
        return api;
    }

    // The paper's settings unless the request changes the method, the perplexity (1..100), the seed or the start
    // (random or the WordNet reference); each set is computed once in the background and cached under its own key.
    private static TsneOptions GraphOptions(string? method, string? perplexity, string? seed, string? init = null)
    {
        var o = TsneOptions.Default;
        if (!string.IsNullOrWhiteSpace(method))
            o = o with { Method = method.Trim().ToLowerInvariant() switch
            {
                "barnes-hut" or "bh" => TsneMethod.BarnesHut,
                "exact" => TsneMethod.Exact,
                _ => throw new ArgumentException($"'method' must be barnes-hut or exact, got '{method}'"),
            } };
        if (!string.IsNullOrWhiteSpace(perplexity))
        {
            if (!double.TryParse(perplexity, NumberStyles.Float, CultureInfo.InvariantCulture, out double p) || !(p >= 1 && p <= 100))
                throw new ArgumentException($"'perplexity' must be a number from 1 to 100, got '{perplexity}'");
            o = o with { Perplexity = p };
        }
        if (!string.IsNullOrWhiteSpace(seed)) o = o with { Seed = Int(seed, "seed", 0) };
        if (!string.IsNullOrWhiteSpace(init)) o = o with { Init = TsneOptions.ParseInit(init, "'init'") };
        o.Validate();
        return o;
    }

    // "a,b,c" → [a, b, c]; absent or empty → null (all models).
    private static List<string>? Ids(string? models) =>
        string.IsNullOrWhiteSpace(models) ? null : models.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();

    private static string Required(string? text, string name) =>
        string.IsNullOrWhiteSpace(text) ? throw new ArgumentException($"missing query parameter '{name}'") : text.Trim();

    private static int Int(string? text, string name, int? fallback)
    {
        if (string.IsNullOrWhiteSpace(text))
            return fallback ?? throw new ArgumentException($"missing query parameter '{name}'");
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)
            ? v : throw new ArgumentException($"'{name}' must be an integer, got '{text}'");
    }
}
