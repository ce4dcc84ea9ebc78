using System.Diagnostics;
using Microsoft.Extensions.Logging;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Rooms;
using MoltBeat.WebSocket.Server.Outgoing;

namespace MoltBeat.WebSocket.Server;

/// <summary>
/// This node's connections and their rooms, and the hand-off of delivered events to the fan-out workers
/// (<see cref="FanoutWorkers"/>). Delivering an event only posts it to each worker with that worker's
/// members of its rooms: it never touches a socket, so a big room or a stalled client delays no publisher.
/// </summary>
/// <remarks>
/// Membership is kept per worker, so that each worker walks only its own connections. <see cref="Order"/>
/// is held while a delivery is posted and while a membership change posts its reply, so that the two are
/// in one order in every worker's lane.
/// </remarks>
internal sealed class ConnectionHub : IEventSink, IDisposable
{
    private readonly MoltBeatMetrics _metrics;
    private readonly RoomClasses _roomClasses;
    private readonly RoomRegistry<ConnectionOutput>[] _rooms;
    private readonly MemberSet<ConnectionOutput>[] _ready;
    private int _readyCount;
    // Rooms whose count changed since the engine last asked (under Order): only joins and leaves touch it. Null until an
    // engine first asks (TakeChangedRooms): an engine that never does (in-memory) must not collect every room name ever joined.
    private HashSet<string>? _changed;
    private long _recovered;
    private long _notRecovered;
    private long _slowConsumers;
    private long _conflated;

    public ConnectionHub(int workers, MoltBeatMetrics metrics, ILogger logger, TimeProvider time, IReadOnlyCollection<string>? metricRooms = null)
    {
        _metrics = metrics;
        _roomClasses = new RoomClasses(metricRooms ?? []);
        Revocations = new Revocations(time, logger);
        Workers = new FanoutWorkers(workers, metrics, logger);
        _rooms = new RoomRegistry<ConnectionOutput>[workers];
        _ready = new MemberSet<ConnectionOutput>[workers];
        for (var i = 0; i < workers; i++)
        {
            _rooms[i] = new();
            _ready[i] = new();
        }
    }

    /// <summary>The revocations this node knows of, and how controls reach its connections.</summary>
    public Revocations Revocations { get; }

    /// <summary>The workers that write to this node's connections.</summary>
    public FanoutWorkers Workers { get; }

    /// <summary>
    /// Held while deliveries are posted to the workers; a membership change that answers the client
    /// (subscribe, unsubscribe) posts its reply under it too, which orders the reply against deliveries.
    /// Re-entrant.
    /// </summary>
    public Lock Order { get; } = new();

    /// <summary>Every open connection, authenticated or not (for heartbeats and shutdown).</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<ClientConnection, byte> All { get; } = new();

    /// <summary>The <see cref="PublishedEvent.Sequence"/> of the last room event delivered on this node.</summary>
    public long LastDeliveredSequence { get; private set; }

    /// <summary>Connections that completed authentication and receive broadcasts to all.</summary>
    public int ReadyCount => Volatile.Read(ref _readyCount);

    /// <inheritdoc />
    public int Connections => ReadyCount;

    /// <summary>Totals of this node's recoveries and slow-consumer disconnects, for stats.</summary>
    public WSRecoveryStats RecoveryStats =>
        new(Interlocked.Read(ref _recovered), Interlocked.Read(ref _notRecovered), Interlocked.Read(ref _slowConsumers))
        {
            ConflatedEvents = Interlocked.Read(ref _conflated),
        };

    /// <summary>A connection's output conflated <paramref name="count"/> events away (called on its worker).</summary>
    public void CountConflated(int count)
    {
        Interlocked.Add(ref _conflated, count);
        _metrics.Conflated.Add(count);
    }

    public void CountRecovery(bool recovered)
    {
        Interlocked.Increment(ref recovered ? ref _recovered : ref _notRecovered);
        _metrics.Recoveries.Add(1, new KeyValuePair<string, object?>("recovered", recovered));
    }

    public void CountSlowConsumer()
    {
        Interlocked.Increment(ref _slowConsumers);
        _metrics.SlowConsumers.Add(1);
    }

    public void AddReady(ConnectionOutput output)
    {
        lock (Order)
        {
            if (_ready[output.Worker.Index].Add(output))
                _readyCount++;
        }
    }

    public void RemoveReady(ConnectionOutput output)
    {
        lock (Order)
        {
            if (_ready[output.Worker.Index].Remove(output))
                _readyCount--;
        }
    }

    /// <summary>
    /// Told (under <see cref="Order"/>, so it must only note it) when a room gets its first subscriber on this node: occupancy
    /// tracking (the occupancy tracker). Null while nothing tracks.
    /// </summary>
    public Action<string>? FirstLocalSubscriber { get; set; }

    /// <summary>Adds a connection's output to a room; false when it was there already.</summary>
    public bool Join(string room, ConnectionOutput output)
    {
        lock (Order)
        {
            if (!_rooms[output.Worker.Index].Add(room, output))
                return false;
            _changed?.Add(room);
            if (FirstLocalSubscriber is { } first && Members(room) == 1)
                first(room);
            return true;
        }
    }

    /// <summary>Removes a connection's output from a room; false when it was not there.</summary>
    public bool Leave(string room, ConnectionOutput output)
    {
        lock (Order)
        {
            if (!_rooms[output.Worker.Index].Remove(room, output))
                return false;
            _changed?.Add(room);
            return true;
        }
    }

    /// <summary>The subscribers of <paramref name="room"/> on this node.</summary>
    public int Members(string room)
    {
        lock (Order)
            return _rooms.Sum(registry => registry.Snapshot(room).Length);
    }

    /// <inheritdoc />
    public int Subscribers(string room) => Members(room);

    /// <inheritdoc />
    public (IReadOnlyList<UserPresence> Users, int Anonymous) Presence(string room)
    {
        var users = new Dictionary<string, int>(StringComparer.Ordinal);
        var anonymous = 0;
        foreach (var registry in _rooms)
        {
            foreach (var output in registry.Snapshot(room))
            {
                if (output.UserId is { } user)
                    users[user] = users.GetValueOrDefault(user) + 1;
                else
                    anonymous++;
            }
        }
        return ([.. users.Select(u => new UserPresence(u.Key, u.Value))], anonymous);
    }

    /// <inheritdoc />
    public IReadOnlyCollection<string> TakeChangedRooms(bool all)
    {
        lock (Order)
        {
            // The first call starts the tracking; it reports everything when asked for all (the engine's first write is).
            var changed = _changed ?? new(StringComparer.Ordinal);
            _changed = new(StringComparer.Ordinal);
            if (all)
            {
                foreach (var registry in _rooms)
                {
                    foreach (var (room, _) in registry.Counts())
                        changed.Add(room);
                }
            }
            return changed;
        }
    }

    /// <summary>Every room with its subscriber count on this node, ordered by name.</summary>
    public IReadOnlyList<(string Room, int Members)> RoomCounts()
    {
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var registry in _rooms)
        {
            foreach (var (room, members) in registry.Counts())
                counts[room] = counts.GetValueOrDefault(room) + members;
        }
        return [.. counts.Select(c => (c.Key, c.Value))];
    }

    /// <inheritdoc />
    public void Deliver(PublishedEvent published)
    {
        lock (Order)
        {
            var rooms = published.DeliveryRooms;
            if (rooms is not null)
                LastDeliveredSequence = published.Sequence;
            var deliveredAt = Stopwatch.GetTimestamp();
            var roomClass = _roomClasses.Of(rooms?[0]);
            using var activity = MoltBeatTracing.StartDeliver(published.TraceParent, rooms?[0]);
            var recipients = 0;
            foreach (var worker in Workers.All)
            {
                ConnectionOutput[][] members;
                if (rooms is null)
                {
                    members = [_ready[worker.Index].Snapshot()];
                }
                else
                {
                    members = new ConnectionOutput[rooms.Length][];
                    for (var i = 0; i < rooms.Length; i++)
                        members[i] = _rooms[worker.Index].Snapshot(rooms[i]);
                }
                if (HasAnyone(members))
                    worker.Post(FanoutWorker.WorkItem.Event(published, members, deliveredAt, roomClass));
                if (activity is not null)
                    recipients += members.Sum(m => m.Length);
            }
            // Subscriptions on this node (a connection in two of the event's rooms counts twice, but receives it once).
            activity?.SetTag("moltbeat.recipients", recipients);
            _metrics.EventsPublished.Add(1);
        }
    }

    /// <inheritdoc />
    public void Control(EngineControl control) => Revocations.Apply(control, All.Select(static c => c.Key));

    private static bool HasAnyone(ConnectionOutput[][] members)
    {
        foreach (var room in members)
        {
            if (room.Length > 0)
                return true;
        }
        return false;
    }

    /// <inheritdoc />
    public void Dispose() => Workers.Dispose();
}
