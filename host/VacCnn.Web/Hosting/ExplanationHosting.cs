using VacCnn.Engine;
using VacCnn.Engine.Explanations;

namespace VacCnn.Web.Hosting;

/// <summary>Registration of the explanation service (its queue workers stop when the host disposes it).</summary>
public static class ExplanationHosting
{
    /// <summary>One <see cref="ExplanationService"/> per process, over the engine's models, plugins and data folder.</summary>
    public static IServiceCollection AddVacCnnExplanations(this IServiceCollection services) =>
        services.AddSingleton(sp => ExplanationService.Create(sp.GetRequiredService<VacCnnEngine>()));
}
