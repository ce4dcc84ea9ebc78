using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Server.Occupancy;

/// <summary>
/// The <c>occupancy</c> messages (protocol 1.1): for each room some subscription asked it of, the room's subscriber count
/// across every node (the engine's), sent when the subscription starts and then whenever it changed, at most once per
/// <see cref="WSServerOptions.OccupancyInterval"/> (a second by default) per room.
/// </summary>
/// <remarks>
/// One timer reads every watched room's count per interval, one engine call per room (the Redis engine: one script), and
/// sends the message, built once, to each watcher. A subscription that starts while its room was read less than an
/// interval ago gets that count at once, so a reconnecting wall of dashboards costs no engine call each.
/// </remarks>
internal sealed class RoomOccupancyWatch : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, WatchedRoom> _rooms = new(StringComparer.Ordinal);
    private readonly IMoltBeatEngine _engine;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly ITimer _timer;
    private readonly CancellationTokenSource _stopping = new();
    private int _reading;
    private int _disposed;

    public RoomOccupancyWatch(IMoltBeatEngine engine, ILogger logger, TimeProvider time, TimeSpan interval)
    {
        _engine = engine;
        _logger = logger;
        _time = time;
        _interval = interval;
        _timer = time.CreateTimer(static s => _ = ((RoomOccupancyWatch)s!).ReadAllAsync(), this, interval, interval);
    }

    /// <summary>Rooms watched now.</summary>
    public int WatchedRooms => _rooms.Count;

    /// <summary>Sends <paramref name="connection"/> the room's count now, then whenever it changes (until <see cref="Unwatch"/>).</summary>
    public void Watch(string room, ClientConnection connection)
    {
        var watched = _rooms.GetOrAdd(room, static r => new WatchedRoom(r));
        bool fresh;
        long count;
        lock (watched)
        {
            watched.Watchers.Add(connection);
            fresh = watched.ReadAt is { } at && _time.GetElapsedTime(at) < _interval;
            count = watched.Count;
            if (!fresh)
                watched.FirstReads++;
        }
        if (fresh)
            connection.Send(ServerMessages.Occupancy(room, count));
        else
            _ = ReadAndSendAsync(watched, connection);
    }

    /// <summary>Stops sending <paramref name="connection"/> the room's counts (no-op when it was not watching).</summary>
    public void Unwatch(string room, ClientConnection connection)
    {
        if (!_rooms.TryGetValue(room, out var watched))
            return;
        lock (watched)
        {
            if (!watched.Watchers.Remove(connection) || watched.Watchers.Count > 0)
                return;
            // The last watcher left: forget the room (a watcher arriving meanwhile makes it again).
            _rooms.TryRemove(new KeyValuePair<string, WatchedRoom>(room, watched));
            watched.Gone = true;
        }
    }

    private async Task ReadAndSendAsync(WatchedRoom watched, ClientConnection connection)
    {
        long? count;
        try
        {
            count = await ReadAsync(watched).ConfigureAwait(false);
        }
        finally
        {
            lock (watched)
                watched.FirstReads--;
        }
        lock (watched)
        {
            if (count is null || !watched.Watchers.Contains(connection))
                return;
        }
        connection.Send(ServerMessages.Occupancy(watched.Room, count.Value));
    }

    /// <summary>One interval's reading: every watched room, and a message to its watchers when its count changed.</summary>
    private async Task ReadAllAsync()
    {
        // A slow engine must not pile readings up: skip the tick while the last one still runs.
        if (Interlocked.Exchange(ref _reading, 1) == 1)
            return;
        try
        {
            foreach (var watched in _rooms.Values)
            {
                long previous;
                lock (watched)
                {
                    // A subscription's first count is on its way: the tick would send its watchers the same count twice.
                    if (watched.FirstReads > 0)
                        continue;
                    previous = watched.Count;
                }
                if (await ReadAsync(watched).ConfigureAwait(false) is not { } count || count == previous)
                    continue;
                var message = ServerMessages.Occupancy(watched.Room, count);
                ClientConnection[] watchers;
                lock (watched)
                    watchers = [.. watched.Watchers];
                foreach (var watcher in watchers)
                    watcher.Send(message);
            }
        }
        finally
        {
            Volatile.Write(ref _reading, 0);
        }
    }

    private async Task<long?> ReadAsync(WatchedRoom watched)
    {
        long count;
        try
        {
            count = await _engine.GetSubscribersAsync(watched.Room, _stopping.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is EngineUnavailableException or OperationCanceledException)
        {
            // Counts resume when the engine is back; the subscriptions themselves are unaffected.
            if (ex is EngineUnavailableException)
                ServerLog.OccupancyReadFailed(_logger, ex, watched.Room);
            return null;
        }
        lock (watched)
        {
            if (watched.Gone)
                return null;
            watched.Count = count;
            watched.ReadAt = _time.GetTimestamp();
        }
        return count;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
            return;
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _timer.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    /// <summary>A watched room: its watchers and its last count (guarded by itself).</summary>
    private sealed class WatchedRoom(string room)
    {
        public string Room { get; } = room;

        public HashSet<ClientConnection> Watchers { get; } = [];

        public long Count { get; set; } = -1;

        public long? ReadAt { get; set; }

        public bool Gone { get; set; }

        /// <summary>First counts being read for new watchers (ReadAndSendAsync), which the timer leaves to them.</summary>
        public int FirstReads { get; set; }
    }
}
