using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Rooms;

namespace MoltBeat.WebSocket.Server;

public sealed partial class MoltBeatWSServer
{
    /// <summary>
    /// A room's position and subscribers (protocol 1.1, "Rooms over HTTP"). The position is what a subscribe would
    /// be told: read it, load the state it stands for, then subscribe with <c>since</c> it, and nothing falls between.
    /// </summary>
    /// <exception cref="ArgumentException">The room name is invalid.</exception>
    /// <exception cref="Engine.EngineUnavailableException">The engine cannot read it now.</exception>
    public async Task<WSRoomInfo> GetRoomAsync(string room, CancellationToken cancellationToken = default)
    {
        RoomName.EnsureValid(room);
        await _engineStarted.Value.ConfigureAwait(false);
        var position = await Engine.GetPositionAsync(room, cancellationToken).ConfigureAwait(false);
        var subscribers = await Engine.GetSubscribersAsync(room, cancellationToken).ConfigureAwait(false);
        return new WSRoomInfo(room, position.Epoch, position.Offset, subscribers);
    }

    /// <summary>
    /// The deployment's live nodes with their connections (the cluster view): this node first, counted now, then every other
    /// live node as its last heartbeat shared it (Redis: within a heartbeat, 1 s by default; a node that stopped drops out at
    /// once, one that died within three heartbeats). The in-memory engine has this node only.
    /// </summary>
    /// <exception cref="EngineUnavailableException">The engine cannot read it now (Redis unreachable).</exception>
    public async Task<IReadOnlyList<NodeInfo>> GetNodesAsync(CancellationToken cancellationToken = default)
    {
        await _engineStarted.Value.ConfigureAwait(false);
        return await Engine.GetNodesAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The clients of this node with the most waiting for them (bytes under the slow-consumer bound), most behind
    /// first: who is behind when a dashboard lags. A moment's view, read without stopping the fan-out.
    /// </summary>
    /// <param name="count">How many to return, at most.</param>
    public IReadOnlyList<WSClientBacklog> GetLaggingClients(int count = 10)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return [.. Hub.All.Keys
            .Select(c => (Connection: c, Backlog: c.Backlog))
            .Where(c => c.Backlog.Messages > 0)
            .OrderByDescending(c => c.Backlog.Bytes)
            .Take(count)
            .Select(c => new WSClientBacklog(c.Connection.Info.Id, c.Connection.Info.User?.UserId, c.Backlog.Bytes, c.Backlog.Messages))];
    }
}

/// <summary>What <see cref="MoltBeatWSServer.GetRoomAsync"/> tells of a room.</summary>
/// <param name="Room">The room.</param>
/// <param name="Epoch">Its epoch: offsets count within it, and it changes when the room's history is lost.</param>
/// <param name="Offset">The offset of its last recorded event (0: none yet).</param>
/// <param name="Subscribers">
/// Its subscribers counted across all nodes (<see cref="Engine.IMoltBeatEngine.GetSubscribersAsync"/>): this node's now, the
/// other nodes' as they last shared them (with the Redis engine, within about a heartbeat; a stopped node drops out within
/// three).
/// </param>
public sealed record WSRoomInfo(string Room, string Epoch, long Offset, long Subscribers);

/// <summary>One client of <see cref="MoltBeatWSServer.GetLaggingClients"/>.</summary>
/// <param name="ClientId">The connection's id.</param>
/// <param name="UserId">Its user, when authenticated.</param>
/// <param name="QueuedBytes">Bytes waiting for it (closed with 4009 past <see cref="WSServerOptions.MaxQueuedBytes"/>).</param>
/// <param name="QueuedMessages">Messages waiting for it.</param>
public sealed record WSClientBacklog(string ClientId, string? UserId, long QueuedBytes, int QueuedMessages);
