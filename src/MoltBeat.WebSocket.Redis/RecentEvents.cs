using MoltBeat.WebSocket.Engine;
using StreamPosition = MoltBeat.WebSocket.Protocol.StreamPosition;

namespace MoltBeat.WebSocket.Redis;

/// <summary>
/// The last events this node delivered, in <c>all</c> order, so that a subscribe whose read from Redis the
/// delivery loop has already gone past can be completed from memory instead of reading Redis again while
/// the loop waits. Under a reconnect storm, with events flowing, nearly every subscribe is in that case;
/// a second read under the loop's gate per subscribe serialized them all behind Redis round trips.
/// </summary>
/// <remarks>Not thread-safe: used under the engine's gate.</remarks>
internal sealed class RecentEvents(int capacity)
{
    private readonly PublishedEvent[] _ring = new PublishedEvent[capacity];
    private long _first = 1;
    private long _next = 1;
    // The last catch-up: in a reconnect storm, many subscribes in a row bring the same shared read forward to
    // the same point, and each would otherwise copy its replay list (hundreds of events) and walk the ring again.
    private (string Room, RecoveryResult Read, long DeliveredUpTo, RecoveryResult CaughtUp)? _last;

    /// <summary>Records the event the loop just delivered; a gap in sequences forgets what came before it.</summary>
    public void Add(PublishedEvent published)
    {
        var sequence = published.Sequence;
        if (sequence != _next)
            _first = sequence;
        _ring[sequence % _ring.Length] = published;
        _next = sequence + 1;
        _first = Math.Max(_first, _next - _ring.Length);
    }

    /// <summary>Forgets everything (a new epoch).</summary>
    public void Clear()
    {
        _first = _next = 1;
        _last = null;
    }

    /// <summary>
    /// Brings <paramref name="read"/> of <paramref name="room"/>, taken at <c>all</c> offset <paramref name="readAt"/>,
    /// forward to <paramref name="deliveredUpTo"/>: the room's position moves past every event recorded there in
    /// between, a recovery gets those events appended to its missed ones, and a read of the <paramref name="lastCount"/>
    /// events gets them appended too, keeping the last <paramref name="lastCount"/>. False when this node does not hold
    /// every event of that stretch, or they do not continue the room's offsets; then Redis must be read again.
    /// </summary>
    public bool TryCatchUp(string room, RecoveryResult read, int lastCount, long readAt, long deliveredUpTo, out RecoveryResult caughtUp)
    {
        caughtUp = read;
        if (readAt + 1 < _first || deliveredUpTo >= _next)
            return false;
        if (_last is { } last && ReferenceEquals(last.Read, read) && last.DeliveredUpTo == deliveredUpTo && last.Room == room)
        {
            caughtUp = last.CaughtUp;
            return true;
        }
        var offset = read.Position.Offset;
        var lastOnly = read.Recovered != true && lastCount > 0;
        List<PublishedEvent>? replay = read.Recovered == true || lastOnly ? [.. read.Replay] : null;
        for (var sequence = readAt + 1; sequence <= deliveredUpTo; sequence++)
        {
            var published = _ring[sequence % _ring.Length];
            var inRoom = published.OffsetIn(room);
            if (inRoom == 0)
                continue;
            if (inRoom != offset + 1)
                return false;
            offset = inRoom;
            replay?.Add(published);
        }
        if (lastOnly && replay!.Count > lastCount)
            replay.RemoveRange(0, replay.Count - lastCount);
        caughtUp = read with { Position = new StreamPosition(read.Position.Epoch, offset), Replay = replay ?? read.Replay };
        _last = (room, read, deliveredUpTo, caughtUp);
        return true;
    }
}
