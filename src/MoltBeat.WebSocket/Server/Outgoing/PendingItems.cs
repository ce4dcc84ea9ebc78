namespace MoltBeat.WebSocket.Server.Outgoing;

/// <summary>
/// The items waiting for one connection, oldest first; used by its fan-out worker only (no lock). One item,
/// the common case at steady rates, is held in a field; a ring array exists only while two or more wait,
/// and is dropped when they are written, so an idle connection holds no item storage.
/// </summary>
internal struct PendingItems
{
    private OutgoingItem _single;
    private OutgoingItem[]? _ring;
    private int _head;

    /// <summary>Items waiting.</summary>
    public int Count { get; private set; }

    /// <summary>The <paramref name="index"/>-th oldest item.</summary>
    public readonly OutgoingItem this[int index] => _ring is null ? _single : _ring[(_head + index) % _ring.Length];

    /// <summary>Adds an item after the others.</summary>
    public void Add(OutgoingItem item)
    {
        if (Count == 0 && _ring is null)
        {
            _single = item;
            Count = 1;
            return;
        }
        if (_ring is null)
        {
            _ring = new OutgoingItem[8];
            _ring[0] = _single;
            _single = default;
            _head = 0;
        }
        else if (Count == _ring.Length)
        {
            var bigger = new OutgoingItem[_ring.Length * 2];
            for (var i = 0; i < Count; i++)
                bigger[i] = _ring[(_head + i) % _ring.Length];
            _ring = bigger;
            _head = 0;
        }
        _ring[(_head + Count) % _ring.Length] = item;
        Count++;
    }

    /// <summary>Drops the <paramref name="count"/> oldest items (they were written).</summary>
    public void RemoveFirst(int count)
    {
        if (count <= 0)
            return;
        if (count >= Count)
        {
            Clear();
            return;
        }
        for (var i = 0; i < count; i++)
            _ring![(_head + i) % _ring.Length] = default;
        _head = (_head + count) % _ring!.Length;
        Count -= count;
    }

    /// <summary>Drops every item.</summary>
    public void Clear()
    {
        _single = default;
        _ring = null;
        _head = 0;
        Count = 0;
    }

    /// <summary>
    /// Conflation under lag: keeps only the newest live event of each conflation key (room, event name, key), in its own
    /// place, counting the older ones it replaced; events without a key, replays, replies and pings all stay, in order.
    /// </summary>
    /// <returns>How much the bounded items shrank: bytes (a kept event's count adds a few) and messages.</returns>
    public (long Bytes, int Messages) ConflateLiveEvents()
    {
        if (Count < 2)
            return (0, 0);
        var newestOfKey = new Dictionary<string, int>(StringComparer.Ordinal);
        // Walk newest to oldest, filling `kept` from its end: the first event met of a key is its newest.
        var kept = new OutgoingItem[Math.Max(8, Count)];
        var at = kept.Length;
        long bytesBefore = 0, bytesAfter = 0;
        var dropped = 0;
        for (var i = Count - 1; i >= 0; i--)
        {
            var item = this[i];
            if (item.IsBounded)
                bytesBefore += item.Length;
            if (item.Kind == OutgoingKind.Event && item.ConflationKey is { } key)
            {
                if (newestOfKey.TryGetValue(key, out var newest))
                {
                    kept[newest] = kept[newest] with { Conflated = kept[newest].Conflated + item.Conflated + 1 };
                    dropped++;
                    continue;
                }
                newestOfKey[key] = at - 1;
            }
            kept[--at] = item;
        }
        if (dropped == 0)
            return (0, 0);
        for (var i = at; i < kept.Length; i++)
        {
            if (kept[i].IsBounded)
                bytesAfter += kept[i].Length;
        }
        _ring = kept;
        _single = default;
        _head = at;
        Count = kept.Length - at;
        return (bytesBefore - bytesAfter, dropped);
    }
}
