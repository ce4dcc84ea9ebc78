namespace MoltBeat.WebSocket.Rooms;

/// <summary>
/// The members of one room. Joins and leaves change a set; fan-out walks an immutable snapshot that
/// is rebuilt only on the first publish after a change, so a storm of joins costs no copying and no
/// lock is held while the snapshot is walked. Callers lock.
/// </summary>
internal sealed class MemberSet<T> where T : class
{
    private readonly HashSet<T> _members = new(ReferenceEqualityComparer.Instance);
    private T[]? _snapshot = [];

    public int Count => _members.Count;

    public bool Add(T member)
    {
        if (!_members.Add(member))
            return false;
        _snapshot = null;
        return true;
    }

    public bool Remove(T member)
    {
        if (!_members.Remove(member))
            return false;
        _snapshot = null;
        return true;
    }

    public T[] Snapshot() => _snapshot ??= [.. _members];
}
