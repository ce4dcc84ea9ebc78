using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Rooms;

namespace MoltBeat.WebSocket.Server;

/// <summary>
/// This node's connections and their rooms, and the fan-out of events to them. Fan-out only enqueues:
/// it never awaits a socket, so a stalled client delays nobody.
/// </summary>
internal sealed class ConnectionHub(MoltBeatMetrics metrics) : IEventSink
{
    private readonly Lock _readyLock = new();
    private readonly MemberSet<ClientConnection> _ready = new();
    private readonly Lock _deliverLock = new();
    private long _deliveryStamp;
    private long _recovered;
    private long _notRecovered;
    private long _slowConsumers;

    /// <summary>Room memberships of this node's connections.</summary>
    public RoomRegistry<ClientConnection> Rooms { get; } = new();

    /// <summary>Every open connection, authenticated or not (for heartbeats and shutdown).</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<ClientConnection, byte> All { get; } = new();

    /// <summary>The <see cref="PublishedEvent.Sequence"/> of the last room event delivered on this node.</summary>
    public long LastDeliveredSequence { get; private set; }

    /// <summary>Connections that completed authentication and receive broadcasts to all.</summary>
    public int ReadyCount
    {
        get
        {
            lock (_readyLock)
                return _ready.Count;
        }
    }

    /// <summary>Totals of this node's recoveries and slow-consumer disconnects, for stats.</summary>
    public WSRecoveryStats RecoveryStats =>
        new(Interlocked.Read(ref _recovered), Interlocked.Read(ref _notRecovered), Interlocked.Read(ref _slowConsumers));

    public void CountRecovery(bool recovered)
    {
        Interlocked.Increment(ref recovered ? ref _recovered : ref _notRecovered);
        metrics.Recoveries.Add(1, new KeyValuePair<string, object?>("recovered", recovered));
    }

    public void CountSlowConsumer()
    {
        Interlocked.Increment(ref _slowConsumers);
        metrics.SlowConsumers.Add(1);
    }

    public void AddReady(ClientConnection connection)
    {
        lock (_readyLock)
            _ready.Add(connection);
    }

    public void RemoveReady(ClientConnection connection)
    {
        lock (_readyLock)
            _ready.Remove(connection);
    }

    /// <inheritdoc />
    public void Deliver(PublishedEvent published)
    {
        // Engines deliver one event at a time; the lock only guards against a misbehaving engine.
        lock (_deliverLock)
        {
            var stamp = ++_deliveryStamp;
            long delivered = 0;
            if (published.DeliveryRooms is not { } rooms)
            {
                ClientConnection[] everyone;
                lock (_readyLock)
                    everyone = _ready.Snapshot();
                foreach (var connection in everyone)
                    delivered += connection.EnqueueEvent(published.Frame) ? 1 : 0;
            }
            else
            {
                LastDeliveredSequence = published.Sequence;
                foreach (var room in rooms)
                {
                    foreach (var connection in Rooms.Snapshot(room))
                    {
                        // At most once per connection, however many of its rooms match.
                        if (connection.DeliveryStamp == stamp)
                            continue;
                        connection.DeliveryStamp = stamp;
                        delivered += connection.EnqueueEvent(published.Frame) ? 1 : 0;
                    }
                }
            }
            metrics.EventsPublished.Add(1);
            if (delivered > 0)
                metrics.MessagesSent.Add(delivered);
        }
    }
}
