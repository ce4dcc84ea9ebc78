using Microsoft.Extensions.Hosting;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.WebSocket.Hosting;

/// <summary>Closes every client with 1001 as soon as the app starts stopping, before Kestrel waits for requests to end.</summary>
internal sealed class MoltBeatShutdownService(MoltBeatWSServer server, IHostApplicationLifetime lifetime) : IHostedService
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
