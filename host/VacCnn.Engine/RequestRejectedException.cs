namespace VacCnn.Engine;

/// <summary>
/// A request was rejected before any work was done and nothing was stored; the message says what is wrong and what
/// is allowed. The one exception family that the engine throws at its callers' input (analytics, explanations, uploads).
/// </summary>
public sealed class RequestRejectedException(RequestProblem problem, string message) : Exception(message)
{
    /// <summary>Kind of problem.</summary>
    public RequestProblem Problem { get; } = problem;
}
