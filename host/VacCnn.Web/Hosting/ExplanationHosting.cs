using Hangfire;
using VacCnn.Engine;
using VacCnn.Engine.Explanations;
using VacCnn.Engine.Jobs;

namespace VacCnn.Web.Hosting;

/// <summary>Registration of the explanation service, its scheduler (Hangfire jobs in lanes) and the jobs themselves.</summary>
public static class ExplanationHosting
{
    /// <summary>One <see cref="ExplanationService"/> per process, over the engine's models, plugins and data folder; it
    /// hands work to the Hangfire queue of the request's lane, which any process with jobs serves.</summary>
    public static IServiceCollection AddVacCnnExplanations(this IServiceCollection services)
    {
        services.AddSingleton<IExplanationScheduler>(sp => new HangfireExplanationScheduler(sp.GetRequiredService<IBackgroundJobClient>(),
            sp.GetRequiredService<JobStorage>(), sp.GetRequiredService<VacCnnEngine>().Options.ExplanationQueueCapacity));
        services.AddSingleton(sp => ExplanationService.Create(sp.GetRequiredService<VacCnnEngine>(),
            sp.GetRequiredService<IExplanationScheduler>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger("VacCnn.Explanations")));
        services.AddTransient<ExplanationJobs>();
        services.AddTransient<ExplanationPrecompute>();
        return services;
    }
}
