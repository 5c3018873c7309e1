namespace VacCnn.Engine;

/// <summary>
/// Why a request cannot be served. Every front end maps it the same way: the web API to one HTTP status (with a
/// problem-details body), the CLI to a usage error.
/// </summary>
public enum RequestProblem
{
    /// <summary>A parameter is malformed or out of range (400).</summary>
    BadRequest,
    /// <summary>The model, image, method, metric or run does not exist (404).</summary>
    NotFound,
    /// <summary>More bytes or pixels than allowed (413).</summary>
    TooLarge,
    /// <summary>Content of a type that is not accepted, judged by content rather than by name (415).</summary>
    UnsupportedType,
    /// <summary>Well-formed but unusable content, e.g. a truncated picture (422).</summary>
    Unprocessable,
}
