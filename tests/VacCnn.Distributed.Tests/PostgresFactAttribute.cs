using VacCnn.TestSupport;

namespace VacCnn.Distributed.Tests;

/// <summary>A fact that needs PostgreSQL: skipped, with the reason, where neither a server nor the binaries exist.</summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when PostgreSQL is unavailable.</summary>
    public PostgresFactAttribute()
    {
        if (PrivatePostgres.Unavailable() is { } reason) Skip = reason;
    }
}
