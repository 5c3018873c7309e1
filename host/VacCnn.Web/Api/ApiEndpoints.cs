using VacCnn.Web.Services;

namespace VacCnn.Web.Api;

/// <summary>Read-only JSON endpoints (camelCase). The admin page polls <c>/api/runs</c> for live progress.</summary>
public static class ApiEndpoints
{
    /// <summary>Maps /api/models, /api/plugins, /api/runs and /api/runs/{id}.</summary>
    public static IEndpointRouteBuilder MapVacCnnApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api");
        api.MapGet("/models", (VacCnnQueries q) => Results.Ok(q.Models()));
        api.MapGet("/plugins", (VacCnnQueries q) => Results.Ok(q.Plugins()));
        api.MapGet("/runs", (VacCnnQueries q) => Results.Ok(q.Runs()));
        api.MapGet("/runs/{id}", (string id, VacCnnQueries q) =>
            q.Run(id) is { } run ? Results.Ok(run) : Results.NotFound(new { error = $"no run '{id}'" }));
        app.MapVacCnnExplanationApi();
        api.MapAnalyticsApi();
        return app;
    }
}
