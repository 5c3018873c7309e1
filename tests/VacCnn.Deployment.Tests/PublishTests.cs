using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using VacCnn.TestSupport;
using Xunit.Abstractions;

namespace VacCnn.Deployment.Tests;

/// <summary>
/// <c>dotnet publish</c> of the web host and of the CLI gives folders that work from any working directory with only
/// the data paths configured: the app, its <c>wwwroot</c> (front-end libraries included) and the bundled plugins in
/// <c>plugins/</c> beside it. Each is published in Release into a temporary folder (plugins deployed to a temporary
/// folder too, so the checkout's <c>artifacts/plugins</c>, which other tests load, is not touched) and run from <c>/</c>.
/// </summary>
public sealed class PublishTests(ITestOutputHelper output) : IDisposable
{
    private static readonly string[] BundledPlugins =
        ["VacCnn.Models.Onnx", "VacCnn.Metrics.Standard", "VacCnn.Explainers.Cam", "VacCnn.Explainers.Perturbation", "VacCnn.Explainers.Attribution"];
    private const string Model = "mobilenet_v1_0.25_128_quant";
    private readonly TempDir _temp = new("vaccnn-publish");

    [Fact]
    public async Task The_published_web_host_starts_from_the_root_folder_with_its_pages_scripts_plugins_and_models()
    {
        string app = Publish(WebProject, "web");
        foreach (string plugin in BundledPlugins) Assert.True(File.Exists(Path.Combine(app, "plugins", plugin, plugin + ".dll")), $"plugins/{plugin} missing");
        Assert.True(File.Exists(Path.Combine(app, "wwwroot", "lib", "chart.js", "chart.umd.min.js")), "the front-end libraries are not published");

        // Only the data paths are configured; one model keeps start-up short.
        string models = _temp.Combine("models"), data = _temp.Combine("data");
        Directory.CreateDirectory(models);
        Directory.CreateSymbolicLink(Path.Combine(models, Model), Path.Combine(TestPaths.Models, Model));
        int port = TestPaths.FreeLoopbackPort();
        string log = _temp.Combine("web.log");
        using var host = Start("dotnet", [Path.Combine(app, "VacCnn.Web.dll")], log, new()
        {
            ["VacCnn__Models"] = models, ["VacCnn__Images"] = TestPaths.ImageNetSamples, ["VacCnn__ImageNet"] = TestPaths.ImageNet,
            ["VacCnn__Data"] = data, ["VacCnn__Device"] = "Cpu", ["Urls"] = $"http://127.0.0.1:{port}",
        });
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
            await WaitUntilServing(http, host, log);

            // Pages, the page scripts and the libraries come from the published wwwroot.
            string page = await http.GetStringAsync("/Compare");
            Assert.Contains("/js/compare/compare.js", page);
            foreach (string path in new[] { "/js/compare/compare.js", "/lib/chart.js/chart.umd.min.js", "/css/site.css" })
                Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(path)).StatusCode);

            // The plugins beside the app: the model loads, every bundled method and metric is offered.
            var modelsJson = await http.GetFromJsonAsync<JsonElement>("/api/models");
            Assert.Contains(modelsJson.GetProperty("models").EnumerateArray(), m => m.GetProperty("id").GetString() == Model);
            Assert.True((await http.GetFromJsonAsync<JsonElement>("/api/explainers")).GetArrayLength() >= 13);
            Assert.Equal(4, (await http.GetFromJsonAsync<JsonElement>("/api/metrics")).GetArrayLength());
            string plugins = await http.GetStringAsync("/Plugins");
            foreach (string plugin in BundledPlugins) Assert.Contains(Path.Combine(app, "plugins", plugin), plugins);

            // And an explanation runs end to end (ONNX Runtime's natives, backward graphs, the data folder).
            string url = $"/api/explanations?model={Model}&image=n01443537_goldfish.JPEG&method=gradcam";
            var deadline = DateTime.UtcNow.AddMinutes(3);
            HttpResponseMessage r;
            while ((r = await http.GetAsync(url)).StatusCode == HttpStatusCode.Accepted && DateTime.UtcNow < deadline) await Task.Delay(250);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Equal(1, (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("predictedIndex").GetInt32()); // goldfish
            Assert.NotEmpty(Directory.GetFiles(Path.Combine(data, "explanations"), "*.vxm", SearchOption.AllDirectories));
        }
        finally
        {
            Stop(host);
            output.WriteLine(File.Exists(log) ? File.ReadAllText(log) : "(no log)");
        }
    }

    [Fact]
    public void The_published_cli_finds_its_plugins_from_any_folder()
    {
        string cli = Publish(CliProject, "cli");
        string log = _temp.Combine("cli.log");
        using var p = Start(Path.Combine(cli, "vaccnn"), ["plugins"], log, new());
        Assert.True(p.WaitForExit(120_000), "vaccnn plugins did not finish");
        string text = File.ReadAllText(log);
        output.WriteLine(text);
        Assert.Equal(0, p.ExitCode);
        Assert.Contains($"plugins folder: {Path.Combine(cli, "plugins")}", text);
        foreach (string plugin in BundledPlugins) Assert.Contains(plugin, text);
        Assert.DoesNotContain("failed", text);
    }

    [Fact]
    public void The_container_recipe_copies_files_that_exist_and_runs_the_tested_publish_commands()
    {
        string deploy = Path.Combine(TestPaths.RepoRoot, "deploy");
        var lines = File.ReadAllLines(Path.Combine(deploy, "Dockerfile"));
        var copies = lines.Where(l => l.StartsWith("COPY ", StringComparison.Ordinal) && !l.Contains("--from=")).ToList();
        Assert.NotEmpty(copies);
        foreach (string source in copies.SelectMany(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..^1]))
            Assert.True(File.Exists(Path.Combine(TestPaths.RepoRoot, source)) || Directory.Exists(Path.Combine(TestPaths.RepoRoot, source)),
                $"the Dockerfile copies {source}, which the repository does not have");
        string text = string.Join('\n', lines);
        foreach (string project in new[] { WebProject, CliProject })
            Assert.Contains($"dotnet publish {project} -c Release -o ", text);
        // The compose file builds that Dockerfile and runs a web host, two workers and PostgreSQL.
        string compose = File.ReadAllText(Path.Combine(deploy, "compose.yaml"));
        foreach (string part in new[] { "dockerfile: deploy/Dockerfile", "--VacCnn:Role=web", "--VacCnn:Role=worker", "replicas: 2", "image: postgres", "VacCnn__Storage: postgres" })
            Assert.Contains(part, compose);
        Assert.Contains("ExecStart=/usr/bin/dotnet /srv/vaccnn/VacCnn.Web.dll", File.ReadAllText(Path.Combine(deploy, "vaccnn.service")));
    }

    [Theory]
    [InlineData("win-x64", "VacCnn.Web.exe", "onnxruntime.dll", "libonnxruntime.so", "")]
    [InlineData("osx-arm64", "VacCnn.Web", "libonnxruntime.dylib", "onnxruntime.dll", "")]
    // The CPU-only deployment: ONNX Runtime without its CUDA provider.
    [InlineData("linux-x64", "VacCnn.Web", "libonnxruntime.so", "libonnxruntime_providers_cuda.so", "-p:VacCnnOnnxRuntime=cpu")]
    public void The_host_builds_for_other_platforms_with_only_their_onnx_runtime(string runtime, string program, string native, string foreign, string property)
    {
        // A copy of the tracked sources (the checkout's obj/ holds this platform's restore, which other tests use).
        string copy = _temp.Combine("src");
        var (code, files) = Run("git", ["-C", TestPaths.RepoRoot, "ls-files", "-z"]);
        Assert.Equal(0, code);
        foreach (string file in files.Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            string from = Path.Combine(TestPaths.RepoRoot, file), to = Path.Combine(copy, file);
            if (!File.Exists(from)) continue; // deleted in the working tree
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(from, to);
        }
        // The browser libraries npm installed in the checkout (the build would run `npm ci` for a copy without them).
        Directory.CreateSymbolicLink(Path.Combine(copy, "host/VacCnn.Web/node_modules"), Path.Combine(TestPaths.RepoRoot, "host/VacCnn.Web/node_modules"));

        var (built, text) = Run("dotnet", ["build", Path.Combine(copy, WebProject), "-r", runtime, "-v", "q", "-nologo", .. property.Length > 0 ? new[] { property } : []]);
        Assert.True(built == 0, $"dotnet build -r {runtime} failed:\n{text}");
        string bin = Path.Combine(copy, "host/VacCnn.Web/bin/Debug/net10.0", runtime);
        Assert.True(File.Exists(Path.Combine(bin, program)), $"no {program} in {bin}");
        Assert.True(File.Exists(Path.Combine(bin, native)), $"no {native} in {bin}");
        Assert.False(File.Exists(Path.Combine(bin, foreign)), $"{foreign} (another platform's ONNX Runtime) in {bin}");
        Assert.True(Directory.Exists(Path.Combine(copy, "artifacts/plugins/VacCnn.Models.Onnx")));
        long bytes = Directory.EnumerateFiles(bin, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        output.WriteLine($"{runtime} {property}: build output {bytes / 1e6:F0} MB");
    }

    private const string WebProject = "host/VacCnn.Web/VacCnn.Web.csproj", CliProject = "tools/VacCnn.Cli/VacCnn.Cli.csproj";

    /// <summary>The tested publish command (README's deployment section), into a temporary folder; returns it.</summary>
    private string Publish(string project, string name)
    {
        string folder = _temp.Combine(name);
        // --no-restore: the checkout is restored already (one runtime), and restoring would rewrite obj/ under running tests.
        var (code, text) = Run("dotnet", ["publish", Path.Combine(TestPaths.RepoRoot, project), "-c", "Release", "-o", folder, "--no-restore",
            $"-p:VacCnnPluginsDir={_temp.Combine("plugin-build")}/", "-v", "q", "-nologo"]);
        Assert.True(code == 0, $"dotnet publish {project} failed:\n{text}");
        long bytes = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        output.WriteLine($"{project}: publish folder {bytes / 1e6:F0} MB");
        return folder;
    }

    private static (int Code, string Output) Run(string file, string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = "/" };
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(600_000)) { p.Kill(true); return (-1, "timed out"); }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>Starts a program in / with its output in <paramref name="log"/> (a file: a full pipe would block it).</summary>
    private static Process Start(string file, string[] args, string log, Dictionary<string, string> environment)
    {
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, WorkingDirectory = "/" };
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        string Quote(string s) => "'" + s.Replace("'", "'\\''") + "'";
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add($"exec {Quote(file)} {string.Join(' ', args.Select(Quote))} >{Quote(log)} 2>&1");
        return Process.Start(psi)!;
    }

    private static async Task WaitUntilServing(HttpClient http, Process host, string log)
    {
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (DateTime.UtcNow < deadline)
        {
            if (host.HasExited) throw new InvalidOperationException($"the published host exited ({host.ExitCode}):\n{File.ReadAllText(log)}");
            try
            {
                if ((await http.GetAsync("/api/models")).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            await Task.Delay(500);
        }
        throw new TimeoutException($"the published host did not answer in 3 minutes:\n{File.ReadAllText(log)}");
    }

    private static void Stop(Process p)
    {
        if (p.HasExited) return;
        p.Kill(entireProcessTree: true);
        p.WaitForExit(10_000);
    }

    public void Dispose() => _temp.Dispose();
}
