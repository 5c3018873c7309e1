using System.Text.Json;
using VacCnn.Cli;

// vaccnn: the command-line face of VacCnn.Engine. JSON on stdout with --json, tables otherwise, progress on stderr,
// and on bad input one line on stderr with a non-zero exit code.
try
{
    var cli = CliArgs.Parse(args);
    return cli.Verb switch
    {
        "plugins" => Commands.Plugins(cli),
        "models" => Commands.Models(cli),
        "classify" => Commands.Classify(cli),
        "evaluate" => Commands.Evaluate(cli),
        "roots" => Commands.Roots(cli),
        "explain" => ExplainCommands.Explain(cli),
        "precompute" => PrecomputeCommand.Run(cli),
        "similarity" => ExplainCommands.Similarity(cli),
        "layers" => ExplainCommands.Layers(cli),
        "graph" => AnalyticsCommands.Graph(cli),
        "accuracy" => AnalyticsCommands.Accuracy(cli),
        "" or "help" when true => Commands.Help(),
        _ => throw new CliException($"unknown command '{cli.Verb}' (try: vaccnn help)"),
    };
}
catch (CliException e)
{
    Console.Error.WriteLine($"vaccnn: {e.Message}");
    return 2;
}
catch (VacCnn.Engine.RequestRejectedException e) // unknown model, bad class: the engine's one rejection, a usage error here
{
    Console.Error.WriteLine($"vaccnn: {e.Message}");
    return 2;
}
catch (Exception e) when (e is IOException or InvalidDataException or KeyNotFoundException or InvalidOperationException
                              or UnauthorizedAccessException or VacCnn.Engine.OptionsValidationException or JsonException)
{
    Console.Error.WriteLine($"vaccnn: {e.Message.ReplaceLineEndings(" ")}");
    return 1;
}
