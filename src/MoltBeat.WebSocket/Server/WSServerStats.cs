using MoltBeat.WebSocket.Engine;

namespace MoltBeat.WebSocket.Server;

/// <summary>Subscribers of one room on this node.</summary>
/// <param name="Room">The room.</param>
/// <param name="Subscribers">Connections subscribed to it.</param>
public sealed record WSRoomStats(string Room, int Subscribers);

/// <summary>What <see cref="MoltBeatWSServer.GetStats"/> returns (the seed's <c>getStats()</c>, plus engine figures).</summary>
/// <param name="TotalClients">Authenticated connections on this node.</param>
/// <param name="TotalRooms">Rooms with at least one subscriber on this node.</param>
/// <param name="Rooms">Each room with its subscriber count.</param>
/// <param name="PendingClients">Connections still authenticating.</param>
/// <param name="Engine">The engine's own figures: kind, health, history size.</param>
public sealed record WSServerStats(int TotalClients, int TotalRooms, IReadOnlyList<WSRoomStats> Rooms, int PendingClients, EngineStats Engine);
