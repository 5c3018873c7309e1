using VacCnn.Engine;
using VacCnn.Web.Services;

namespace VacCnn.Web.Api;

/// <summary>
/// The JSON API under /api (camelCase), described by the OpenAPI document at /openapi/v1.json. Every endpoint answers
/// errors as problem details (<see cref="ApiProblems"/>). The admin page polls <c>/api/runs</c> for live progress.
/// </summary>
public static class ApiEndpoints
{
    /// <summary>Where the OpenAPI document is served.</summary>
    public const string OpenApiPath = "/openapi/v1.json";

    /// <summary>Maps every API endpoint and the OpenAPI document.</summary>
    public static IEndpointRouteBuilder MapVacCnnApi(this IEndpointRouteBuilder app)
    {
        app.MapOpenApi(OpenApiPath.Replace("v1", "{documentName}", StringComparison.Ordinal));
        var api = app.MapGroup("/api").AddEndpointFilter(ApiProblems.Filter);
        api.MapGet("/models", (VacCnnQueries q) => TypedResults.Ok(q.Models())).WithSummary("The models with their evaluation on the image set").ProducesProblems();
        api.MapGet("/plugins", (VacCnnQueries q) => TypedResults.Ok(q.Plugins())).WithSummary("The plugins found, loaded or refused with a reason").ProducesProblems();
        api.MapGet("/runs", (VacCnnQueries q) => TypedResults.Ok(q.Runs())).WithSummary("Evaluation runs with their progress").ProducesProblems();
        api.MapGet("/runs/{id}", (string id, VacCnnQueries q) => TypedResults.Ok(q.Run(id)
                ?? throw new RequestRejectedException(RequestProblem.NotFound, $"no run '{id}'")))
            .WithSummary("One evaluation run").ProducesProblems(StatusCodes.Status404NotFound);
        api.MapGet("/precompute", (VacCnnQueries q) => TypedResults.Ok(q.Batches()))
            .WithSummary("Precompute batches of explanations with their progress").ProducesProblems();
        api.MapGet("/precompute/{id}", (string id, VacCnnQueries q) => TypedResults.Ok(q.Batch(id)
                ?? throw new RequestRejectedException(RequestProblem.NotFound, $"no precompute batch '{id}'")))
            .WithSummary("One precompute batch").ProducesProblems(StatusCodes.Status404NotFound);
        api.MapExplanationApi();
        api.MapAnalyticsApi();
        return app;
    }
}
