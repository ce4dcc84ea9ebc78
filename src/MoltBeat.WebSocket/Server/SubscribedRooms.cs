using System.Diagnostics.CodeAnalysis;

namespace MoltBeat.WebSocket.Server;

/// <summary>
/// A connection's subscriptions: room → the sequence after which every event of that room has been sent to it.
/// Most connections hold one room, so the first is kept in two fields and a dictionary is made only for a second
/// (a <see cref="Dictionary{TKey, TValue}"/> holding one entry is about 210 bytes; this is 40).
/// </summary>
internal sealed class SubscribedRooms
{
    // The only subscription, while there is at most one and no dictionary yet.
    private string? _room;
    private long _mark;
    // Every subscription, from the second one on (then _room is null); kept once made.
    private Dictionary<string, long>? _many;

    public int Count => _many?.Count ?? (_room is null ? 0 : 1);

    /// <summary>The rooms, in no particular order.</summary>
    public IEnumerable<string> Rooms => _many is { } many ? many.Keys : _room is null ? [] : [_room];

    public bool Contains(string room) => _many?.ContainsKey(room) ?? string.Equals(_room, room, StringComparison.Ordinal);

    public bool TryGetValue(string room, out long mark)
    {
        if (_many is { } many)
            return many.TryGetValue(room, out mark);
        mark = _mark;
        return string.Equals(_room, room, StringComparison.Ordinal);
    }

    /// <summary>Adds <paramref name="room"/> or replaces its mark.</summary>
    public void Set(string room, long mark)
    {
        if (_many is { } many)
        {
            many[room] = mark;
        }
        else if (_room is null || string.Equals(_room, room, StringComparison.Ordinal))
        {
            (_room, _mark) = (room, mark);
        }
        else
        {
            _many = new Dictionary<string, long>(StringComparer.Ordinal) { [_room] = _mark, [room] = mark };
            _room = null;
        }
    }

    public bool Remove(string room)
    {
        if (_many is { } many)
            return many.Remove(room);
        if (!string.Equals(_room, room, StringComparison.Ordinal))
            return false;
        _room = null;
        return true;
    }

    public void Clear()
    {
        _many?.Clear();
        _room = null;
    }

    /// <summary>Each room with its mark, without allocating (a replay checks every one for every event).</summary>
    public Enumerator GetEnumerator() => new(this);

    /// <summary>Enumerates the subscriptions as (room, mark) pairs.</summary>
    [SuppressMessage("Performance", "CA1815", Justification = "An enumerator, never compared.")]
    public struct Enumerator
    {
        private readonly SubscribedRooms _rooms;
        private Dictionary<string, long>.Enumerator _many;
        private bool _single;

        internal Enumerator(SubscribedRooms rooms)
        {
            _rooms = rooms;
            _many = rooms._many?.GetEnumerator() ?? default;
            _single = rooms._many is null && rooms._room is not null;
            Current = default;
        }

        public KeyValuePair<string, long> Current { get; private set; }

        public bool MoveNext()
        {
            if (_rooms._many is not null)
            {
                var moved = _many.MoveNext();
                Current = moved ? _many.Current : default;
                return moved;
            }
            if (!_single)
                return false;
            _single = false;
            Current = new(_rooms._room!, _rooms._mark);
            return true;
        }
    }
}
