using Microsoft.Extensions.Hosting;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.WebSocket.Hosting;

/// <summary>
/// Starts the server's engine with the app, and closes every client with 1001 as soon as the app starts stopping,
/// before Kestrel waits for requests to end.
/// </summary>
internal sealed class MoltBeatLifetimeService(MoltBeatWSServer server, IHostApplicationLifetime lifetime) : IHostedService
{
    private CancellationTokenRegistration _registration;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Only starts closing: the stopping signal's callbacks run under the host's lock on the signal's
        // thread, which must not be blocked for seconds; StopAsync waits for the same closing.
        _registration = lifetime.ApplicationStopping.Register(() => _ = server.CloseAsync());
        // Before the app serves, as the standalone server does: otherwise the engine started with the first
        // publish or client, and the health check (engine connected?) kept a fresh Redis node out of a load
        // balancer that waits for it to be ready before sending it either. With Redis down this returns after
        // the engine's operation timeout, and the engine goes on connecting in the background.
        await server.StartEngineAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _registration.DisposeAsync().ConfigureAwait(false);
        await server.CloseAsync().ConfigureAwait(false);
    }
}
