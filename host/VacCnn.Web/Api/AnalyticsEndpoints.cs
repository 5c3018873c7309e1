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
/// Unknown models are 404, bad parameters 400, both with <c>{error}</c>.
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

    /// <summary>Maps the analytics endpoints under <paramref name="api"/> (the /api group).</summary>
    public static RouteGroupBuilder MapAnalyticsApi(this RouteGroupBuilder api)
    {
        api.MapGet("/classes", (AnalyticsQueries q) => Results.Ok(q.Classes()));
        api.MapGet("/overview", (AnalyticsQueries q) => Results.Ok(q.Overview()));
        api.MapGet("/models/{id}/classes", (string id, string? root, AnalyticsQueries q) =>
            Answer(() => q.ModelClasses(id, string.IsNullOrWhiteSpace(root) ? null : root)));
        api.MapGet("/models/{id}/graph", (string id, string? method, string? perplexity, string? seed, string? init, AnalyticsQueries q) =>
            Answer(() => q.Graph(id, GraphOptions(method, perplexity, seed, init))));
        api.MapGet("/compare/graphs", (string? a, string? b, string? method, string? perplexity, string? seed, string? init, string? top,
            [FromQuery(Name = "class")] string? cls, AnalyticsQueries q) =>
            Answer(() => q.CompareGraphs(Required(a, "a"), Required(b, "b"), GraphOptions(method, perplexity, seed, init), Int(top, "top", 20),
                focus: string.IsNullOrWhiteSpace(cls) ? null : Int(cls, "class", null))));
        api.MapGet("/models/{id}/confusions", (string id, [FromQuery(Name = "class")] string? cls, string? top, AnalyticsQueries q) =>
            Answer(() => q.ConfusionsOf(id, Int(cls, "class", null), Int(top, "top", 5))));
        api.MapGet("/compare/range", (string? models, AnalyticsQueries q) => Answer(() => q.Range(Ids(models))));
        api.MapGet("/compare/average", (string? models, AnalyticsQueries q) => Answer(() => q.Average(Ids(models))));
        api.MapGet("/compare/agreement", (string? models, AnalyticsQueries q) => Answer(() => q.Agreement(Ids(models))));
        return api;
    }

    private static IResult Answer<T>(Func<T> query)
    {
        try { return Results.Ok(query()); }
        catch (AnalyticsNotFoundException e) { return Results.NotFound(new { error = e.Message }); }
        catch (ArgumentException e) { return Results.BadRequest(new { error = e.Message }); }
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
