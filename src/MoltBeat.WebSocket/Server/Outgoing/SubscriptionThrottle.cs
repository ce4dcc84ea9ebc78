using System.Diagnostics;

namespace MoltBeat.WebSocket.Server.Outgoing;

/// <summary>
/// One subscription's <c>maxRate</c> (protocol 1.1), owned by the connection's fan-out worker: the room's events for this
/// connection are released at most <c>maxRate</c> times a second, each release sending everything that waited, in order,
/// with only the newest event of each room, event name and key (the others conflated into it). So each key reaches the
/// client at most <c>maxRate</c> times a second, always with its newest value, and events without a key all arrive.
/// </summary>
/// <remarks>
/// An event that finds the throttle idle (its last release an interval ago or more, nothing waiting) leaves at once: a
/// quiet room is not delayed. A replaced event's slot is left empty rather than removed, so a replacement costs a
/// dictionary lookup, not a shift; the slots go when the release sends the rest.
/// </remarks>
internal sealed class SubscriptionThrottle
{
    private readonly List<OutgoingItem> _waiting = [];
    private readonly Dictionary<string, int> _slotOfKey = new(StringComparer.Ordinal);
    private long _intervalTicks;
    private long _nextRelease;

    /// <summary>A throttle for <paramref name="room"/> releasing at most <paramref name="maxRate"/> times a second.</summary>
    public SubscriptionThrottle(string room, double maxRate)
    {
        Room = room;
        SetRate(maxRate);
    }

    /// <summary>The subscription's room.</summary>
    public string Room { get; }

    /// <summary>When the next release may happen (a <see cref="Stopwatch"/> timestamp).</summary>
    public long NextRelease => _nextRelease;

    /// <summary>Whether events wait for a release.</summary>
    public bool HasWaiting => _waiting.Count > 0;

    /// <summary>Whether the worker has a release of it scheduled.</summary>
    public bool Scheduled { get; set; }

    /// <summary>False once the subscription is gone (its scheduled release, if any, does nothing).</summary>
    public bool Active { get; set; } = true;

    /// <summary>Changes the rate (a second subscribe to the room with another <c>maxRate</c>).</summary>
    public void SetRate(double maxRate) => _intervalTicks = Math.Max(1, (long)(Stopwatch.Frequency / maxRate));

    /// <summary>Whether an event arriving at <paramref name="now"/> may leave at once (the throttle is idle); if so, that is its release.</summary>
    public bool TryPassNow(long now)
    {
        if (HasWaiting || now < _nextRelease)
            return false;
        _nextRelease = now + _intervalTicks;
        return true;
    }

    /// <summary>Something of the room was sent at <paramref name="now"/> outside a release (its replay): the next release waits an interval from it.</summary>
    public void CountRelease(long now) => _nextRelease = Math.Max(_nextRelease, now + _intervalTicks);

    /// <summary>Keeps <paramref name="item"/> for the next release; an older waiting event of its key is replaced.</summary>
    /// <returns>The item it replaced (its <see cref="OutgoingItem.Message"/> null when none), for the bound's accounting.</returns>
    public OutgoingItem Add(OutgoingItem item)
    {
        var key = item.ConflationKey;
        if (key is null)
        {
            _waiting.Add(item);
            return default;
        }
        OutgoingItem replaced = default;
        if (_slotOfKey.TryGetValue(key, out var slot))
        {
            replaced = _waiting[slot];
            _waiting[slot] = default;
            // The newest goes last, after what arrived between the two: offsets the client receives only increase.
            item = item with { Conflated = item.Conflated + replaced.Conflated + 1 };
        }
        _slotOfKey[key] = _waiting.Count;
        _waiting.Add(item);
        return replaced;
    }

    /// <summary>Moves every waiting event into <paramref name="pending"/>, oldest first, and starts the next interval at <paramref name="now"/>.</summary>
    /// <returns>How many were moved.</returns>
    public int ReleaseInto(ref PendingItems pending, long now)
    {
        var moved = 0;
        foreach (var item in _waiting)
        {
            if (item.Message is null)
                continue;
            pending.Add(item);
            moved++;
        }
        _waiting.Clear();
        _slotOfKey.Clear();
        _nextRelease = now + _intervalTicks;
        return moved;
    }

    /// <summary>The bytes and messages waiting that count toward the bound (dropped with the connection's queue).</summary>
    public (long Bytes, int Messages) Bounded()
    {
        long bytes = 0;
        var messages = 0;
        foreach (var item in _waiting)
        {
            if (item.Message is not null && item.IsBounded)
            {
                bytes += item.Length;
                messages++;
            }
        }
        return (bytes, messages);
    }
}
