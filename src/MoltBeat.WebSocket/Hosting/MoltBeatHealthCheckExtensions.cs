using MoltBeat.WebSocket.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the MoltBeat server's health to ASP.NET Core health checks (<c>app.MapHealthChecks("/health")</c>).</summary>
public static class MoltBeatHealthCheckExtensions
{
    /// <summary>The name of the check in health reports.</summary>
    public const string CheckName = "moltbeat";

    /// <summary>
    /// Registers the check <c>moltbeat</c>: healthy while the server's engine can publish and the server is not
    /// shutting down. Tagged <c>ready</c>, for a readiness endpoint
    /// (<c>app.MapHealthChecks("/ready", new() { Predicate = c =&gt; c.Tags.Contains("ready") })</c>).
    /// </summary>
    public static IHealthChecksBuilder AddMoltBeatHealthChecks(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        return services.AddHealthChecks().AddCheck<MoltBeatHealthCheck>(CheckName, tags: ["ready"]);
    }
}
