using System.Net;
using Hangfire.Dashboard;

namespace VacCnn.Web.Hosting;

/// <summary>
/// Lets only requests from this machine (loopback remote address) into the Hangfire dashboard. A request without a
/// remote address (e.g. an in-process test server) is refused: unknown is not local.
/// </summary>
public sealed class LoopbackOnlyDashboardFilter : IDashboardAuthorizationFilter
{
    /// <inheritdoc />
    public bool Authorize(DashboardContext context) => IsLoopback(context.GetHttpContext().Connection.RemoteIpAddress);

    /// <summary>True for 127.0.0.0/8, ::1 and IPv4-mapped loopback.</summary>
    public static bool IsLoopback(IPAddress? address) =>
        address != null && IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);
}
