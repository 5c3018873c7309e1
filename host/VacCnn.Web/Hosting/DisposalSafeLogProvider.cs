using Hangfire.AspNetCore;
using Hangfire.Logging;

namespace VacCnn.Web.Hosting;

/// <summary>
/// Hangfire's log provider is process-wide (static) and points at the logger factory of the host that configured it
/// last. Where several hosts share a process (WebApplicationFactory tests, a host restarted in place), one host
/// disposing its factory must not make job creation fail in another: logging then goes nowhere instead of throwing.
/// </summary>
internal sealed class DisposalSafeLogProvider(ILoggerFactory factory) : ILogProvider
{
    private readonly AspNetCoreLogProvider _inner = new(factory);

    public ILog GetLogger(string name)
    {
        try { return new SafeLog(_inner.GetLogger(name)); }
        catch (ObjectDisposedException) { return new SafeLog(null); }
    }

    private sealed class SafeLog(ILog? inner) : ILog
    {
        public bool Log(Hangfire.Logging.LogLevel logLevel, Func<string>? messageFunc, Exception? exception = null)
        {
            if (inner is null) return false;
            try { return inner.Log(logLevel, messageFunc!, exception!); }
            catch (ObjectDisposedException) { return false; }
        }
    }
}
