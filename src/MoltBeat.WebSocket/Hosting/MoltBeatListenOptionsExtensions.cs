using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using MoltBeat.WebSocket.Server;

namespace Microsoft.AspNetCore.Hosting;

/// <summary>Kestrel endpoints that serve MoltBeat's WebSocket clients on raw connections and HTTP for the rest.</summary>
public static class MoltBeatListenOptionsExtensions
{
    /// <summary>
    /// On this endpoint, a connection that opens with a WebSocket upgrade to the server's path
    /// (<see cref="WSServerOptions.Path"/>) is served on Kestrel's raw connection, as the standalone server
    /// does: no HTTP pipeline under it, its frames sent on the socket by the fan-out workers. Every other
    /// connection goes on to HTTP untouched, so the same port still serves the app's routes (and
    /// <c>MapMoltBeatWebSocket</c>, for upgrades that come after another request on a kept-alive connection).
    /// Needs <c>AddMoltBeatWebSocket</c>. Middleware of the HTTP pipeline does not see these upgrades: the
    /// handshake checks (origin, authentication, connection limit) are the server's own.
    /// </summary>
    public static ListenOptions UseMoltBeatWebSocket(this ListenOptions listen)
    {
        ArgumentNullException.ThrowIfNull(listen);
        MoltBeatWSServer? server = null;
        listen.Use(next => connection =>
            (server ??= listen.ApplicationServices.GetRequiredService<MoltBeatWSServer>()).ServeOrPassAsync(connection, next));
        return listen;
    }
}
