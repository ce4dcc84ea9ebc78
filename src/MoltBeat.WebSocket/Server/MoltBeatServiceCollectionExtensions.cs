using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Server;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>What <see cref="MoltBeatServiceCollectionExtensions.AddMoltBeatWebSocket"/> returns, to add an engine such as Redis.</summary>
/// <param name="Services">The application's services.</param>
public sealed record MoltBeatBuilder(IServiceCollection Services);

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
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new MoltBeatMetrics(sp.GetService<IMeterFactory>()));
        services.TryAddSingleton<IMoltBeatEngine>(sp => new InMemoryEngine(options.History, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new MoltBeatWSServer(
            options,
            sp.GetRequiredService<IMoltBeatEngine>(),
            sp.GetService<ILoggerFactory>(),
            sp.GetRequiredService<MoltBeatMetrics>(),
            sp.GetRequiredService<TimeProvider>()));
        services.AddHostedService<MoltBeatShutdownService>();
        return new MoltBeatBuilder(services);
    }

    /// <summary>Serves MoltBeat WebSocket clients on <paramref name="pattern"/> (default <c>/ws</c>).</summary>
    public static IEndpointConventionBuilder MapMoltBeatWebSocket(this IEndpointRouteBuilder endpoints, string pattern = "/ws")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var server = endpoints.ServiceProvider.GetRequiredService<MoltBeatWSServer>();
        return endpoints.Map(pattern, server.HandleAsync);
    }

    /// <summary>Closes every client with 1001 as soon as the app starts stopping, before Kestrel waits for requests to end.</summary>
    private sealed class MoltBeatShutdownService(MoltBeatWSServer server, IHostApplicationLifetime lifetime) : IHostedService
    {
        private CancellationTokenRegistration _registration;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            // Only starts closing: the stopping signal's callbacks run under the host's lock on the signal's
            // thread, which must not be blocked for seconds; StopAsync waits for the same closing.
            _registration = lifetime.ApplicationStopping.Register(() => _ = server.CloseAsync());
            return Task.CompletedTask;
        }

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            await _registration.DisposeAsync().ConfigureAwait(false);
            await server.CloseAsync().ConfigureAwait(false);
        }
    }
}
