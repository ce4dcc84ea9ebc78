using Microsoft.Extensions.Diagnostics.HealthChecks;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.WebSocket.Hosting;

/// <summary>
/// The server's health for ASP.NET Core health checks: healthy while its engine can publish (Redis reachable, for the
/// Redis engine) and it is not shutting down; unhealthy otherwise, so a load balancer stops sending it clients.
/// Registered by <see cref="Microsoft.Extensions.DependencyInjection.MoltBeatHealthCheckExtensions.AddMoltBeatHealthChecks"/>.
/// </summary>
internal sealed class MoltBeatHealthCheck(MoltBeatWSServer server) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var stats = server.GetStats();
        var engine = stats.Engine;
        var data = new Dictionary<string, object>
        {
            ["engine"] = engine.Name,
            ["engineHealthy"] = engine.Healthy,
            ["clients"] = stats.TotalClients,
            ["closing"] = server.IsClosing,
        };
        var result = server.IsClosing ? HealthCheckResult.Unhealthy("the server is shutting down", data: data)
            : !engine.Healthy ? HealthCheckResult.Unhealthy($"the {engine.Name} engine cannot publish", data: data)
            : HealthCheckResult.Healthy($"{stats.TotalClients} clients, {engine.Name} engine", data);
        return Task.FromResult(result);
    }
}
