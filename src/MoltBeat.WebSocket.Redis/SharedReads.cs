using System.Diagnostics;
using MoltBeat.WebSocket.Engine;

namespace MoltBeat.WebSocket.Redis;

/// <summary>
/// Subscribes that ask Redis the same question (same room, same <c>since</c> and <c>last</c>) share one read, in flight or
/// done. After a restart, thousands of clients come back to a node with the very same last position; one
/// history read per client flooded the single Redis connection (tens of MB of identical replies) until reads
/// timed out and half the subscribes failed. A read that is done stays useful while the node still holds every
/// event delivered since it was taken (<see cref="RecentEvents"/> brings it forward), for at most
/// <paramref name="lifetime"/> so that history bounds (by age) still hold within that margin; the engine forgets
/// it sooner when it failed, when it is too old to bring forward, and on a new epoch.
/// </summary>
/// <typeparam name="T">The engine's read result.</typeparam>
internal sealed class SharedReads<T>(int capacity, TimeSpan lifetime)
{
    private readonly Dictionary<(string Room, string Epoch, long Offset, int Last), (Task<T> Read, long StartedAt)> _reads = [];
    private readonly Lock _lock = new();

    /// <summary>The read of <paramref name="room"/> that <paramref name="replay"/> asks: a shared one, or a new one started by <paramref name="read"/>.</summary>
    public Task<T> GetOrStart(string room, ReplayRequest replay, Func<Task<T>> read)
    {
        var key = Key(room, replay);
        lock (_lock)
        {
            if (_reads.TryGetValue(key, out var shared) && !shared.Read.IsFaulted && !shared.Read.IsCanceled
                && Stopwatch.GetElapsedTime(shared.StartedAt) < lifetime)
                return shared.Read;
            if (_reads.Count >= capacity)
                _reads.Clear(); // a bound, not a policy: reads in flight keep their waiters, later ones read again
            var started = read();
            _reads[key] = (started, Stopwatch.GetTimestamp());
            return started;
        }
    }

    /// <summary>Stops sharing <paramref name="read"/> (it is too old to bring forward, or failed).</summary>
    public void Forget(string room, ReplayRequest replay, Task<T> read)
    {
        var key = Key(room, replay);
        lock (_lock)
        {
            if (_reads.TryGetValue(key, out var shared) && shared.Read == read)
                _reads.Remove(key);
        }
    }

    /// <summary>Forgets every read (a new epoch: none of them can be brought forward).</summary>
    public void Clear()
    {
        lock (_lock)
            _reads.Clear();
    }

    private static (string, string, long, int) Key(string room, ReplayRequest replay) =>
        (room, replay.Since?.Epoch ?? "", replay.Since?.Offset ?? -1, replay.Last);
}
