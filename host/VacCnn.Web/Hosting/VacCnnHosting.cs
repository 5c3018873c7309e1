using System.Globalization;
using Hangfire;
using Microsoft.Extensions.Options;
using VacCnn.Engine;
using VacCnn.Engine.Configuration;
using VacCnn.Engine.Evaluation;
using VacCnn.Engine.Explanations;
using VacCnn.Engine.Jobs;
using VacCnn.Engine.Store;
using VacCnn.Web.Api;
using VacCnn.Web.Services;

namespace VacCnn.Web.Hosting;

/// <summary>Composition of the web host: options, the engine, Hangfire and the start-up checks.</summary>
public static class VacCnnHosting
{
    /// <summary>Configuration key of the Hangfire worker count (host-only, so not part of <see cref="VacCnnOptions"/>).</summary>
    public const string WorkersKey = VacCnnOptions.Section + ":Workers";

    /// <summary>
    /// A published app (<c>wwwroot</c> beside the program) runs from any working directory: its content root — where
    /// <c>appsettings.json</c>, <c>wwwroot</c> and relative data paths are found — is the app's folder, unless
    /// <c>--contentRoot</c> or <c>ASPNETCORE_CONTENTROOT</c> names another. From a checkout (<c>dotnet run</c>, tests)
    /// the build output has no <c>wwwroot</c>, and the content root stays the default, the project folder.
    /// </summary>
    public static WebApplicationOptions BuilderOptions(string[] args)
    {
        bool named = args.Any(a => a.StartsWith("--contentRoot", StringComparison.OrdinalIgnoreCase))
                     || Environment.GetEnvironmentVariable("ASPNETCORE_CONTENTROOT") != null
                     || Environment.GetEnvironmentVariable("DOTNET_CONTENTROOT") != null;
        string app = AppContext.BaseDirectory;
        return new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = !named && Directory.Exists(Path.Combine(app, "wwwroot")) ? app : null,
        };
    }

    /// <summary>Registers options, the engine and its services, the read model, and Hangfire (in-memory storage).</summary>
    public static WebApplicationBuilder AddVacCnn(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<VacCnnOptions>()
            .Bind(builder.Configuration.GetSection(VacCnnOptions.Section))
            .PostConfigure<IHostEnvironment>((o, env) => ResolvePaths(o, env.ContentRootPath));

        // One engine per process: it owns plugin load contexts and ONNX sessions, which are expensive to create.
        services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<VacCnnOptions>>().Value;
            var logger = sp.GetRequiredService<ILoggerFactory>().CreateLogger("VacCnn.Engine");
            return VacCnnEngine.Create(options, line => LogEngineLine(logger, line));
        });
        services.AddSingleton(sp => sp.GetRequiredService<VacCnnEngine>().Evaluation);
        services.AddSingleton(sp => sp.GetRequiredService<VacCnnEngine>().Store);
        services.AddSingleton(sp =>
        {
            var engine = sp.GetRequiredService<VacCnnEngine>();
            return new ImageSetProvider(engine.Options.Images, engine.Classes);
        });
        services.AddTransient<EvaluationJobs>();
        services.AddSingleton(sp =>
        {
            var logger = sp.GetRequiredService<ILoggerFactory>().CreateLogger("VacCnn.Recovery");
            return new RunRecovery(sp.GetRequiredService<ResultStore>(), sp.GetRequiredService<IBackgroundJobClient>(),
                sp.GetRequiredService<IRecurringJobManager>(), line => logger.LogInformation("{Line}", line));
        });
        services.AddSingleton<VacCnnQueries>();
        services.AddVacCnnExplanations();
        services.AddVacCnnAnalytics();

        // The run records in the ResultStore are the source of truth, so the queue may live in memory:
        // RunRecovery re-queues unfinished shards and schedules at every start. With PostgreSQL, queue and tables are
        // shared by every worker process (VacCnnRoles).
        services.AddHangfire((sp, c) => c
            .UseLogProvider(new DisposalSafeLogProvider(sp.GetRequiredService<ILoggerFactory>()))
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings()
            .UseVacCnnStorage(sp.GetRequiredService<IOptions<VacCnnOptions>>().Value));
        if (VacCnnRoles.Read(builder.Configuration) != VacCnnRole.Web) AddJobServers(services);
        return builder;
    }

    // Three Hangfire servers per process with jobs, one per kind of work, so that no kind waits behind another:
    // evaluation and analytics ("default", Workers), expensive explanations (heavy lane first, then precompute;
    // ExplanationWorkers) and cheap ones (the interactive lane only; InteractiveWorkers).
    private static void AddJobServers(IServiceCollection services)
    {
        string pid = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        services.AddHangfireServer((sp, o) =>
        {
            o.WorkerCount = ReadWorkers(sp.GetRequiredService<IConfiguration>(), out _);
            o.ServerName = "vaccnn-" + pid;
            o.Queues = ["default"];
        });
        services.AddHangfireServer((sp, o) =>
        {
            o.WorkerCount = sp.GetRequiredService<IOptions<VacCnnOptions>>().Value.ExplanationWorkers;
            o.ServerName = $"vaccnn-{pid}-explain";
            o.Queues = [ExplanationLanes.HeavyQueue, ExplanationLanes.PrecomputeQueue];
        });
        services.AddHangfireServer((sp, o) =>
        {
            o.WorkerCount = sp.GetRequiredService<IOptions<VacCnnOptions>>().Value.InteractiveWorkers;
            o.ServerName = $"vaccnn-{pid}-interactive";
            o.Queues = [ExplanationLanes.InteractiveQueue];
        });
    }

    /// <summary>Relative paths in the configuration are relative to the content root, not the working directory.</summary>
    public static void ResolvePaths(VacCnnOptions o, string contentRoot)
    {
        static string Resolve(string value, string root) =>
            string.IsNullOrWhiteSpace(value) ? value : Path.GetFullPath(Path.Combine(root, value));
        o.Models = Resolve(o.Models, contentRoot);
        o.Images = Resolve(o.Images, contentRoot);
        o.ImageNet = Resolve(o.ImageNet, contentRoot);
        o.Data = Resolve(o.Data, contentRoot);
        o.Plugins = Resolve(o.Plugins, contentRoot);
    }

    /// <summary>Reads <see cref="WorkersKey"/> (default 1); <paramref name="problem"/> says why a bad value was ignored.</summary>
    public static int ReadWorkers(IConfiguration configuration, out string? problem)
    {
        problem = null;
        string? text = configuration[WorkersKey];
        if (string.IsNullOrWhiteSpace(text)) return 1;
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n is >= 1 and <= 64) return n;
        problem = $"{WorkersKey} = '{text}' must be a whole number from 1 to 64.";
        return 1;
    }

    /// <summary>
    /// Validates the configuration (one log line per problem, then an exception listing them all) and creates the
    /// engine, so that a broken configuration stops the process at start-up instead of failing page by page.
    /// Then schedules <see cref="RunRecovery.Recover"/> for when the server (and the Hangfire workers) have started.
    /// </summary>
    public static WebApplication StartVacCnnEngine(this WebApplication app)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("VacCnn.Startup");
        List<string> problems;
        try
        {
            var options = app.Services.GetRequiredService<IOptions<VacCnnOptions>>().Value;
            problems = [.. options.Validate()];
        }
        catch (Microsoft.Extensions.Options.OptionsValidationException e) { problems = [.. e.Failures]; }
        catch (InvalidOperationException e) { problems = [$"the {VacCnnOptions.Section} section cannot be read: {e.Message}"]; }
        ReadWorkers(app.Configuration, out string? workersProblem);
        if (workersProblem != null) problems.Add(workersProblem);
        // Split roles only make sense around a shared queue: an in-memory queue is invisible to other processes.
        if (VacCnnRoles.Read(app.Configuration) != VacCnnRole.All && problems.Count == 0
            && !app.Services.GetRequiredService<IOptions<VacCnnOptions>>().Value.UsesPostgres)
            problems.Add($"{VacCnnRoles.RoleKey} = '{app.Configuration[VacCnnRoles.RoleKey]}' needs VacCnn:Storage = 'postgres' (with the embedded storage the job queue lives in one process).");
        if (problems.Count > 0) throw ConfigurationFailure(logger, problems);

        VacCnnEngine engine;
        try { engine = app.Services.GetRequiredService<VacCnnEngine>(); }
        catch (VacCnn.Engine.OptionsValidationException e) { throw ConfigurationFailure(logger, e.Problems); }

        LogSummary(logger, engine);
        // Workers only run what the queue holds; the web/all process re-queues unfinished runs at start.
        if (VacCnnRoles.Read(app.Configuration) == VacCnnRole.Worker) return app;
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            try
            {
                int queued = app.Services.GetRequiredService<RunRecovery>().Recover();
                if (queued > 0) logger.LogInformation("recovery queued {Count} unfinished shard(s)", queued);
            }
            catch (Exception e)
            {
                // Recovery failing must not take the site down: the admin page can still queue work by hand.
                logger.LogError(e, "recovery of unfinished runs and schedules failed");
            }
        });
        return app;
    }

    private static InvalidOperationException ConfigurationFailure(ILogger logger, IReadOnlyList<string> problems)
    {
        foreach (var p in problems) logger.LogCritical("configuration: {Problem}", p);
        return new InvalidOperationException(
            "VacCnn configuration is invalid (section '" + VacCnnOptions.Section + "'):" + string.Concat(problems.Select(p => "\n  - " + p)));
    }

    private static void LogSummary(ILogger logger, VacCnnEngine engine)
    {
        var o = engine.Options;
        logger.LogInformation("models {Models}, images {Images}, imagenet {ImageNet}, data {Data}, plugins {Plugins}",
            o.Models, o.Images.Length > 0 ? o.Images : "(none)", o.ImageNet, o.Data, o.Plugins.Length > 0 ? o.Plugins : "(none)");
        if (!engine.Plugins.ModelSources.Any())
            logger.LogWarning("no model source plugin was loaded from '{Folder}': build the solution (dotnet build) or set {Key}",
                engine.Plugins.Folder ?? "(none)", VacCnnOptions.Section + ":Plugins");
        int failed = engine.Models.Failures.Count();
        logger.LogInformation("{Loaded} model(s) loaded: {Ids}; {Failed} failed", engine.Models.Classifiers.Count,
            string.Join(", ", engine.Models.Classifiers.Select(c => c.Card.Id)), failed);
    }

    // The engine logs plain lines; failures are marked "FAILED" by its composition root.
    private static void LogEngineLine(ILogger logger, string line)
    {
        if (line.Contains("FAILED", StringComparison.Ordinal)) logger.LogWarning("{Line}", line);
        else logger.LogInformation("{Line}", line);
    }

    /// <summary>
    /// Hangfire dashboard at /hangfire for admins only (it can enqueue and delete jobs): see
    /// <see cref="Security.AdminAccess"/>. Must come after authentication in the pipeline.
    /// </summary>
    public static WebApplication UseVacCnnHangfireDashboard(this WebApplication app)
    {
        app.UseHangfireDashboard("/hangfire", new DashboardOptions
        {
            Authorization = [], // the default filter allows local requests; ours decides alone
            AsyncAuthorization = [new Security.AdminDashboardFilter()],
            DashboardTitle = "VacCnn jobs",
            AppPath = "/Admin",
        });
        return app;
    }

    /// <summary>
    /// A strict Content-Security-Policy for our pages (no inline script or style anywhere); the Hangfire dashboard
    /// ships inline scripts, so it is left out.
    /// </summary>
    public static WebApplication UseVacCnnSecurityHeaders(this WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            var headers = context.Response.Headers;
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            if (!context.Request.Path.StartsWithSegments("/hangfire"))
            {
                headers.ContentSecurityPolicy =
                    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
                    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";
                headers.XFrameOptions = "DENY";
            }
            await next(context);
        });
        return app;
    }
}
