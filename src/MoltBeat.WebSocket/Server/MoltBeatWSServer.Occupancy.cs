using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Rooms;
using MoltBeat.WebSocket.Server.Occupancy;

namespace MoltBeat.WebSocket.Server;

/// <summary>Who watches: rooms occupied and vacated across the deployment, and a room's presence (protocol 1.1).</summary>
public sealed partial class MoltBeatWSServer
{
    /// <summary>The most users a presence lists (its subscriber count covers them all).</summary>
    public const int MaxPresenceUsers = 1000;

    private EventHandler<WSRoomOccupancyEventArgs>? _roomOccupied;
    private EventHandler<WSRoomOccupancyEventArgs>? _roomVacated;

    /// <summary>
    /// Raised when a room gets its first subscriber anywhere in the deployment (with Redis: on whichever node saw the
    /// transition first, once), e.g. to start computing an aggregate only while somebody watches. Adding a handler starts
    /// occupancy tracking on this node (<see cref="WSServerOptions.TrackRoomOccupancy"/>); in a cluster, every node must track.
    /// </summary>
    public event EventHandler<WSRoomOccupancyEventArgs>? RoomOccupied
    {
        add
        {
            _roomOccupied += value;
            OccupancyTracker.Start(_engineStarted.Value);
        }
        remove => _roomOccupied -= value;
    }

    /// <summary>
    /// Raised when an occupied room has had no subscriber anywhere for <see cref="WSServerOptions.RoomVacatedAfter"/> (so a
    /// dashboard that reconnects does not flap it), once per transition in the deployment. Adding a handler starts tracking,
    /// as for <see cref="RoomOccupied"/>.
    /// </summary>
    public event EventHandler<WSRoomOccupancyEventArgs>? RoomVacated
    {
        add
        {
            _roomVacated += value;
            OccupancyTracker.Start(_engineStarted.Value);
        }
        remove => _roomVacated -= value;
    }

    internal RoomOccupancyTracker OccupancyTracker { get; private set; } = null!;

    /// <summary>Who is subscribed to <paramref name="room"/> across every node: the count and up to <see cref="MaxPresenceUsers"/> users with their connections.</summary>
    /// <exception cref="ArgumentException">The room is invalid.</exception>
    /// <exception cref="EngineUnavailableException">The engine cannot read it now.</exception>
    public async Task<RoomPresence> GetPresenceAsync(string room, CancellationToken cancellationToken = default)
    {
        RoomName.EnsureValid(room, nameof(room));
        await _engineStarted.Value.ConfigureAwait(false);
        return await Engine.GetPresenceAsync(room, MaxPresenceUsers, cancellationToken).ConfigureAwait(false);
    }

    private void CreateOccupancyTracker()
    {
        OccupancyTracker = new RoomOccupancyTracker(Engine, Hub, Logger, Time, Options.RoomVacatedAfter,
            room => Raise(_roomOccupied, new WSRoomOccupancyEventArgs(room, Time.GetUtcNow())),
            room => Raise(_roomVacated, new WSRoomOccupancyEventArgs(room, Time.GetUtcNow())));
        if (Options.TrackRoomOccupancy)
            OccupancyTracker.Start(_engineStarted.Value);
    }
}

/// <summary>Arguments of <see cref="MoltBeatWSServer.RoomOccupied"/> and <see cref="MoltBeatWSServer.RoomVacated"/>.</summary>
/// <param name="room">The room.</param>
/// <param name="at">When this node raised it.</param>
public sealed class WSRoomOccupancyEventArgs(string room, DateTimeOffset at) : EventArgs
{
    /// <summary>The room.</summary>
    public string Room { get; } = room;

    /// <summary>When this node raised it.</summary>
    public DateTimeOffset At { get; } = at;
}
