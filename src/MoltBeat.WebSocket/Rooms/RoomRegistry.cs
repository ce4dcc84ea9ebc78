namespace MoltBeat.WebSocket.Rooms;

/// <summary>
/// This node's map from room to the connections subscribed to it. Knows nothing of engines or sockets;
/// empty rooms are dropped so that the map only holds rooms somebody listens to.
/// </summary>
internal sealed class RoomRegistry<T> where T : class
{
    private readonly Lock _sync = new();
    private readonly Dictionary<string, MemberSet<T>> _rooms = new(StringComparer.Ordinal);

    /// <summary>Adds <paramref name="member"/> to <paramref name="room"/>; false when it was there already.</summary>
    public bool Add(string room, T member)
    {
        lock (_sync)
        {
            if (!_rooms.TryGetValue(room, out var set))
                _rooms[room] = set = new MemberSet<T>();
            return set.Add(member);
        }
    }

    /// <summary>Removes <paramref name="member"/> from <paramref name="room"/>; false when it was not there.</summary>
    public bool Remove(string room, T member)
    {
        lock (_sync)
        {
            if (!_rooms.TryGetValue(room, out var set) || !set.Remove(member))
                return false;
            if (set.Count == 0)
                _rooms.Remove(room);
            return true;
        }
    }

    /// <summary>The members of <paramref name="room"/> now; the array is never changed afterwards.</summary>
    public T[] Snapshot(string room)
    {
        lock (_sync)
            return _rooms.TryGetValue(room, out var set) ? set.Snapshot() : [];
    }

    /// <summary>Rooms with at least one member.</summary>
    public int Count
    {
        get
        {
            lock (_sync)
                return _rooms.Count;
        }
    }

    /// <summary>Every room with its member count, ordered by name.</summary>
    public IReadOnlyList<(string Room, int Members)> Counts()
    {
        lock (_sync)
            return [.. _rooms.Select(r => (r.Key, r.Value.Count)).OrderBy(r => r.Key, StringComparer.Ordinal)];
    }
}
