namespace MoltBeat.WebSocket.Client;

/// <summary>
/// The rooms of one connection that are being replayed from the start of a new epoch. When a resubscription is
/// answered <c>recovered: false</c> with an epoch the client did not know, the server lost its history (it
/// restarted): every event of the new epoch was published while the client was away, so the client asks for
/// them with <c>since: {newEpoch, 0}</c>. Meanwhile recorded events are held here, and released in publication
/// order (<c>offsets.all</c>) once every room's replay is complete, so the application sees each event once and
/// in order. The JS client does the same (<c>recovery.ts</c>).
/// </summary>
/// <remarks>
/// A replay the server conflates (a subscription with <c>maxRate</c>, or a connection lagging behind) skips the offsets of
/// the events it replaced, so "every offset arrived" would never hold and the held events would wait for the timeout.
/// The replay is therefore also complete once, after the reply, as many of its offsets arrived as the reply's
/// <c>replay</c> announced, or an event at or past its last offset did: the server sends the reply, then the replay in
/// order, then live events, so nothing of the replay comes after those.
/// </remarks>
/// <remarks>Not thread-safe: the client uses it under its lock. Released events go through the client's
/// de-duplication, which collapses a replayed copy and a live copy of one event.</remarks>
internal sealed class NewEpochCatchup
{
    private readonly Dictionary<string, RoomCatchup> _rooms = new(StringComparer.Ordinal);
    private List<ReceivedEvent> _held = [];

    /// <summary>Whether a replay is running (and recorded events are held).</summary>
    public bool IsActive => _rooms.Count > 0;

    /// <summary>Starts waiting for the replay of <paramref name="room"/>; true when it is the first of this connection's running ones.</summary>
    public bool Start(string room)
    {
        var first = _rooms.Count == 0;
        _rooms[room] = new RoomCatchup();
        return first;
    }

    /// <summary>
    /// The reply to the catch-up subscribe of <paramref name="room"/>: recovered, the replay of offsets 1 to
    /// <paramref name="offset"/> follows (<paramref name="replay"/> events of them, the reply's <c>replay</c>, fewer when
    /// conflated); otherwise there is nothing to wait for.
    /// </summary>
    /// <returns>The events to deliver now, in order (none while a replay still runs).</returns>
    public IReadOnlyList<ReceivedEvent> Replied(string room, bool recovered, long offset, int? replay = null)
    {
        if (!_rooms.TryGetValue(room, out var catchup))
            return [];
        if (recovered)
            catchup.Replaying(offset, replay);
        else
            _rooms.Remove(room);
        return ReleaseIfDone();
    }

    /// <summary>Stops waiting for <paramref name="room"/> (its catch-up failed, or it was unsubscribed).</summary>
    /// <returns>The events to deliver now, in order.</returns>
    public IReadOnlyList<ReceivedEvent> End(string room) => _rooms.Remove(room) ? ReleaseIfDone() : [];

    /// <summary>Stops waiting for every room (the catch-up timeout).</summary>
    /// <returns>The events to deliver now, in order.</returns>
    public IReadOnlyList<ReceivedEvent> EndAll()
    {
        _rooms.Clear();
        return ReleaseIfDone();
    }

    /// <summary>
    /// Holds a recorded event while a replay runs. True when it was held: it is then delivered later, among
    /// <paramref name="released"/> of this or a later call.
    /// </summary>
    public bool Hold(ReceivedEvent received, out IReadOnlyList<ReceivedEvent> released)
    {
        released = [];
        if (_rooms.Count == 0)
            return false;
        _held.Add(received);
        foreach (var (room, catchup) in _rooms)
        {
            if (received.Offsets.TryGetValue(room, out var offset))
                catchup.Saw(offset);
        }
        released = ReleaseIfDone();
        return true;
    }

    private IReadOnlyList<ReceivedEvent> ReleaseIfDone()
    {
        foreach (var (room, catchup) in _rooms)
        {
            if (catchup.IsComplete)
                _rooms.Remove(room);
        }
        if (_rooms.Count > 0 || _held.Count == 0)
            return [];
        var held = _held;
        _held = [];
        // Stable: events without an id (none are expected among recorded ones) keep their arrival order, last.
        return [.. held.OrderBy(e => e.Id ?? long.MaxValue)];
    }

    private sealed class RoomCatchup
    {
        private readonly HashSet<long> _seen = [];
        private readonly HashSet<long> _seenAfterReply = [];
        private long _target = -1;
        private long _count;
        private int? _announced;
        private bool _reachedTarget;

        /// <summary>The replay ends at <paramref name="target"/> and holds <paramref name="announced"/> events; count what arrived of 1..target already.</summary>
        public void Replaying(long target, int? announced)
        {
            _target = target;
            _announced = announced;
            _count = _seen.Count(o => o >= 1 && o <= target);
        }

        public void Saw(long offset)
        {
            if (_seen.Add(offset) && _target >= 0 && offset >= 1 && offset <= _target)
                _count++;
            if (_target < 0)
                return;
            // After the reply: the replay's own events (1..target), then live ones past it.
            if (offset >= _target)
                _reachedTarget = true;
            else if (offset >= 1)
                _seenAfterReply.Add(offset);
        }

        /// <summary>
        /// Every offset of 1..target arrived (replayed, or live once the replay overtook it); or, for a conflated replay,
        /// every announced event, or one at or past the target, arrived after the reply.
        /// </summary>
        public bool IsComplete => _target >= 0
            && (_count >= _target || _reachedTarget || (_announced is { } announced && _seenAfterReply.Count >= announced));
    }
}
