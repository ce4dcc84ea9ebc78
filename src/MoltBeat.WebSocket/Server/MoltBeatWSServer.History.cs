using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Rooms;

namespace MoltBeat.WebSocket.Server;

public sealed partial class MoltBeatWSServer
{
    /// <summary>How many events <see cref="GetHistoryAsync"/> returns when not told.</summary>
    public const int DefaultHistoryLimit = 100;

    /// <summary>The most events one <see cref="GetHistoryAsync"/> returns.</summary>
    public const int MaxHistoryLimit = 1000;

    /// <summary>
    /// A room's recorded events (protocol 1.1, <c>GET /api/rooms/{room}/history</c>): the last <paramref name="limit"/>
    /// ones, or, with <paramref name="after"/>, the events after that position, oldest first, each exactly as it is sent
    /// on the WebSocket. For a position the history no longer holds (another epoch, or trimmed) the answer has
    /// <see cref="WSRoomHistory.Recovered"/> false, no events and the current position.
    /// </summary>
    /// <param name="room">The room.</param>
    /// <param name="limit">1 to <see cref="MaxHistoryLimit"/>: the last events, or with <paramref name="after"/> the first
    /// events after it (when more follow, the last event's offset is below <see cref="WSRoomHistory.Offset"/>: ask again after it).</param>
    /// <param name="after">A position (e.g. from <see cref="GetRoomAsync"/> or a client's last event); null for the last events.</param>
    /// <param name="cancellationToken">Stops waiting for the engine.</param>
    /// <exception cref="ArgumentException">The room name is invalid.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="limit"/> is out of range.</exception>
    /// <exception cref="EngineUnavailableException">The engine cannot read it now.</exception>
    public async Task<WSRoomHistory> GetHistoryAsync(string room, int limit = DefaultHistoryLimit, StreamPosition? after = null, CancellationToken cancellationToken = default)
    {
        RoomName.EnsureValid(room);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(limit, MaxHistoryLimit);
        await _engineStarted.Value.ConfigureAwait(false);
        var read = await Engine.ReadHistoryAsync(room, after is null ? new ReplayRequest(Last: limit) : new ReplayRequest(after), cancellationToken).ConfigureAwait(false);
        var events = read.Replay.Count > limit ? [.. read.Replay.Take(limit)] : read.Replay;
        return new WSRoomHistory(room, read.Position.Epoch, read.Position.Offset, read.Recovered, events);
    }
}

/// <summary>What <see cref="MoltBeatWSServer.GetHistoryAsync"/> tells of a room's history.</summary>
/// <param name="Room">The room.</param>
/// <param name="Epoch">Its epoch now.</param>
/// <param name="Offset">The offset of its last recorded event now (0: none yet).</param>
/// <param name="Recovered">Null when no position was given; true when <paramref name="Events"/> start right after it; false when the history no longer holds it.</param>
/// <param name="Events">The events, oldest first; each one's <see cref="PublishedEvent.Frame"/> is the <c>event</c> message as sent on the WebSocket.</param>
public sealed record WSRoomHistory(string Room, string Epoch, long Offset, bool? Recovered, IReadOnlyList<PublishedEvent> Events);
