namespace MoltBeat.WebSocket.Engine;

/// <summary>
/// Which rooms are occupied, and since when an occupied room has had nobody, for an engine that sees every subscriber
/// itself (in memory). Thread-safe.
/// </summary>
internal sealed class OccupancyLedger(TimeProvider time)
{
    private readonly Lock _sync = new();
    // Occupied room → when it was first seen with nobody (null: it has subscribers, as far as the last sweep knows).
    private readonly Dictionary<string, long?> _occupied = new(StringComparer.Ordinal);

    /// <summary>Marks the room occupied; true when it was not.</summary>
    public bool MarkOccupied(string room)
    {
        lock (_sync)
        {
            var was = _occupied.ContainsKey(room);
            _occupied[room] = null;
            return !was;
        }
    }

    /// <summary>The occupied rooms with no subscriber (by <paramref name="subscribers"/>) for at least <paramref name="debounce"/>, now vacated.</summary>
    public IReadOnlyList<string> TakeVacated(TimeSpan debounce, Func<string, long> subscribers)
    {
        var now = time.GetTimestamp();
        List<string>? vacated = null;
        lock (_sync)
        {
            foreach (var (room, emptySince) in _occupied.ToList())
            {
                if (subscribers(room) > 0)
                    _occupied[room] = null;
                else if (emptySince is null)
                    _occupied[room] = now;
                else if (time.GetElapsedTime(emptySince.Value, now) >= debounce)
                    (vacated ??= []).Add(room);
            }
            foreach (var room in vacated ?? [])
                _occupied.Remove(room);
        }
        return vacated ?? [];
    }
}
