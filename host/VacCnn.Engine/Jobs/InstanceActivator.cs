using Hangfire;

namespace VacCnn.Engine.Jobs;

/// <summary>
/// A Hangfire activator over fixed job instances, matched by exact type, for processes without a dependency-injection
/// container (the CLI's in-process server, tests); other types are created as Hangfire does by default.
/// </summary>
public sealed class InstanceActivator(params object[] instances) : JobActivator
{
    private readonly Dictionary<Type, object> _byType = instances.ToDictionary(i => i.GetType());

    /// <inheritdoc />
    public override object ActivateJob(Type jobType) => _byType.TryGetValue(jobType, out var job) ? job : base.ActivateJob(jobType);
}
