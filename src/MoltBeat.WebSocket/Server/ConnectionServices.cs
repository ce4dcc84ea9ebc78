using Microsoft.Extensions.Logging;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Server.Outgoing;

namespace MoltBeat.WebSocket.Server;

/// <summary>
/// What a <see cref="ClientConnection"/> needs of its server, and nothing more: the options, the engine it
/// subscribes through, the hub it joins rooms in, the occupancy watch, its instruments, logger and clock, the two events it
/// raises, and its place in the connection limit. One instance per server, shared by every connection.
/// </summary>
internal sealed class ConnectionServices(
    WSServerOptions options,
    IMoltBeatEngine engine,
    ConnectionHub hub,
    MoltBeatMetrics metrics,
    ILogger logger,
    TimeProvider time,
    OutputLimits outputLimits,
    Occupancy.RoomOccupancyWatch occupancy,
    Action<WSClientConnectedEventArgs> connected,
    Action<WSClientDisconnectedEventArgs> disconnected,
    Action releaseConnection)
{
    public WSServerOptions Options { get; } = options;

    public IMoltBeatEngine Engine { get; } = engine;

    public ConnectionHub Hub { get; } = hub;

    public MoltBeatMetrics Metrics { get; } = metrics;

    public ILogger Logger { get; } = logger;

    public TimeProvider Time { get; } = time;

    public OutputLimits OutputLimits { get; } = outputLimits;

    /// <summary>The <c>occupancy</c> messages of subscriptions that asked for them.</summary>
    public Occupancy.RoomOccupancyWatch Occupancy { get; } = occupancy;

    /// <summary>Raises the server's <c>Connected</c> event.</summary>
    public void RaiseConnected(WSClientConnectedEventArgs args) => connected(args);

    /// <summary>Raises the server's <c>Disconnected</c> event.</summary>
    public void RaiseDisconnected(WSClientDisconnectedEventArgs args) => disconnected(args);

    /// <summary>Gives back a connection's place in the server's connection limit, once the connection has ended.</summary>
    public void ReleaseConnection() => releaseConnection();
}
