using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Hosting;
using MoltBeat.WebSocket.Server;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Hosting MoltBeat inside an ASP.NET Core app (the seed's "attach to an HTTP server" and "With Hono").</summary>
public static class MoltBeatServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="MoltBeatWSServer"/> as a singleton (inject it into minimal-API handlers to
    /// broadcast), with the in-memory engine unless another engine is registered, and closes its clients
    /// with 1001 when the app stops.
    /// </summary>
    public static MoltBeatBuilder AddMoltBeatWebSocket(this IServiceCollection services, Action<WSServerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = new WSServerOptions();
        configure?.Invoke(options);
        options.Validate();
        services.AddSingleton(options);
        // The engine's share of the options, on its own: an engine package reads it without knowing the server.
        services.AddSingleton(options.History);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new MoltBeatMetrics(sp.GetService<IMeterFactory>()));
        services.TryAddSingleton<IMoltBeatEngine>(sp => new InMemoryEngine(options.History, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new MoltBeatWSServer(
            options,
            sp.GetRequiredService<IMoltBeatEngine>(),
            sp.GetService<ILoggerFactory>(),
            sp.GetRequiredService<MoltBeatMetrics>(),
            sp.GetRequiredService<TimeProvider>()));
        services.AddHostedService<MoltBeatLifetimeService>();
        return new MoltBeatBuilder(services);
    }

    /// <summary>Serves MoltBeat WebSocket clients on <paramref name="pattern"/> (default <c>/ws</c>).</summary>
    public static IEndpointConventionBuilder MapMoltBeatWebSocket(this IEndpointRouteBuilder endpoints, string pattern = "/ws")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var server = endpoints.ServiceProvider.GetRequiredService<MoltBeatWSServer>();
        return endpoints.Map(pattern, server.HandleAsync);
    }
}
