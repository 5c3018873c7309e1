using VacCnn.Bench;

// The benchmark program: every figure is printed next to a baseline measured in the same run, on the same
// machine, model and images. Never run as a unit test.
//   dotnet run -c Release --project tools/VacCnn.Bench -- [--shared DIR] [--images N] [--no-torch] [--section evaluation|passes|scale|analytics|explain|tsne|cluster]... [--section all] [--quick] [--scale-images N]
var options = BenchOptions.Parse(args);
Console.WriteLine($"VacCnn benchmark — {Environment.ProcessorCount} cores, .NET {Environment.Version}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
Console.WriteLine($"data: {options.Shared}, {options.ImageCount} images per measurement");
if (options.Sections.Contains("evaluation")) new EvaluationBenchmark(options).Run();
if (options.Sections.Contains("passes")) new PassBenchmark(options).Run();
if (options.Sections.Contains("scale")) new ScaleBenchmark(options).Run();
if (options.Sections.Contains("analytics")) new AnalyticsBenchmark(options).Run();
if (options.Sections.Contains("explain")) new ExplainerBenchmark(options).Run();
if (options.Sections.Contains("tsne")) new TsneBenchmark(options).Run();
if (options.Sections.Contains("cluster")) new ClusterBenchmark(options).Run();
return 0;
