using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.WebUtilities;
using VacCnn.Engine;

namespace VacCnn.Web.Api;

/// <summary>
/// The API's one error model: RFC 9457 problem details (<c>application/problem+json</c>) whose <c>detail</c> says what
/// is wrong and what is allowed. Every endpoint under /api answers errors this way, whether a handler returns the
/// problem itself or the engine rejects the request (<see cref="RequestRejectedException"/>, turned into a problem by
/// <see cref="Filter"/>).
/// </summary>
public static class ApiProblems
{
    /// <summary>A problem with status <paramref name="status"/>, its reason phrase as title, and optional extra members.</summary>
    public static ProblemHttpResult Of(int status, string detail, IDictionary<string, object?>? extensions = null) =>
        TypedResults.Problem(detail: detail, statusCode: status, title: ReasonPhrases.GetReasonPhrase(status), extensions: extensions);

    /// <summary>The HTTP status of each kind of rejected request.</summary>
    public static int StatusOf(RequestProblem problem) => problem switch
    {
        RequestProblem.NotFound => StatusCodes.Status404NotFound,
        RequestProblem.TooLarge => StatusCodes.Status413PayloadTooLarge,
        RequestProblem.UnsupportedType => StatusCodes.Status415UnsupportedMediaType,
        RequestProblem.Unprocessable => StatusCodes.Status422UnprocessableEntity,
        _ => StatusCodes.Status400BadRequest,
    };

    /// <summary>
    /// Endpoint filter of the /api group: a rejected request becomes its problem. Also mapped: an analytics parameter
    /// out of range (<see cref="ArgumentException"/>, 400), an image that cannot be decoded (422) and a file deleted
    /// while being served (404). Anything else is a server error and goes to the exception handler.
    /// </summary>
    public static async ValueTask<object?> Filter(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try { return await next(context); }
        catch (RequestRejectedException e) { return Of(StatusOf(e.Problem), e.Message); }
        catch (ArgumentException e) { return Of(StatusCodes.Status400BadRequest, e.Message); }
        catch (InvalidDataException e) { return Of(StatusCodes.Status422UnprocessableEntity, e.Message); }
        catch (FileNotFoundException e) { return Of(StatusCodes.Status404NotFound, e.Message); }
    }

    /// <summary>Documents the problems an endpoint can answer with (OpenAPI), 500 included.</summary>
    public static RouteHandlerBuilder ProducesProblems(this RouteHandlerBuilder endpoint, params int[] statuses)
    {
        foreach (int status in statuses.Append(StatusCodes.Status500InternalServerError).Distinct())
            endpoint.ProducesProblem(status);
        return endpoint;
    }
}
