using MoltBeat.WebSocket.Engine;

namespace MoltBeat.WebSocket.Server;

/// <summary>Subscribers of one room on this node.</summary>
/// <param name="Room">The room.</param>
/// <param name="Subscribers">Connections subscribed to it.</param>
public sealed record WSRoomStats(string Room, int Subscribers);

/// <summary>How subscribes with <c>since</c> went on this node, and how many slow clients were cut off.</summary>
/// <param name="Recovered">Subscribes answered <c>"recovered":true</c>.</param>
/// <param name="NotRecovered">Subscribes answered <c>"recovered":false</c> (history too short or lost).</param>
/// <param name="SlowConsumerDisconnects">Connections closed with 4009.</param>
public sealed record WSRecoveryStats(long Recovered, long NotRecovered, long SlowConsumerDisconnects)
{
    /// <summary>
    /// Events not sent to a connection because a newer one of the same room, event name and key replaced them, counted once
    /// per connection and event (protocol 1.1: a subscription's <c>maxRate</c>, or conflation under lag).
    /// </summary>
    public long ConflatedEvents { get; init; }
}

/// <summary>What <see cref="MoltBeatWSServer.GetStats"/> returns (the seed's <c>getStats()</c>, plus engine figures).</summary>
/// <param name="TotalClients">Authenticated connections on this node.</param>
/// <param name="TotalRooms">Rooms with at least one subscriber on this node.</param>
/// <param name="Rooms">Each room with its subscriber count.</param>
/// <param name="PendingClients">Connections still authenticating.</param>
/// <param name="Engine">The engine's own figures: kind, health, history size.</param>
/// <param name="Recovery">Recoveries and slow-consumer disconnects on this node.</param>
public sealed record WSServerStats(int TotalClients, int TotalRooms, IReadOnlyList<WSRoomStats> Rooms, int PendingClients, EngineStats Engine, WSRecoveryStats Recovery);
