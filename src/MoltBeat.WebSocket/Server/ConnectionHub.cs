using System.Diagnostics;
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
    // Events closer together than this count as a burst (see StartsOnItsOwn).
    private static readonly TimeSpan BurstGap = TimeSpan.FromMilliseconds(2);
    // How long one event's fan-out may write directly on the publishing thread.
    private static readonly TimeSpan DirectWriteBudget = TimeSpan.FromMilliseconds(2);
    private long _deliveryStamp;
    private long _lastDeliveryEnded;
    private bool _previousWasIsolated;
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
            var handoff = new Handoff(StartsOnItsOwn(), metrics);
            if (published.DeliveryRooms is not { } rooms)
            {
                ClientConnection[] everyone;
                lock (_readyLock)
                    everyone = _ready.Snapshot();
                foreach (var connection in everyone)
                    handoff.To(connection, published.Frame);
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
                        handoff.To(connection, published.Frame);
                    }
                }
            }
            _lastDeliveryEnded = Stopwatch.GetTimestamp();
            metrics.EventsPublished.Add(1);
            handoff.Report();
        }
    }

    /// <summary>
    /// Whether this event comes on its own rather than in a burst: then it is written at once to idle
    /// connections, else queued so that each connection's writer packs the burst into few writes. Both
    /// this gap and the one before must be long: one long gap inside a burst is the publishing thread
    /// being descheduled.
    /// </summary>
    private bool StartsOnItsOwn()
    {
        var isolated = Stopwatch.GetElapsedTime(_lastDeliveryEnded) >= BurstGap;
        var onItsOwn = isolated && _previousWasIsolated;
        _previousWasIsolated = isolated;
        return onItsOwn;
    }

    /// <summary>One event's fan-out: direct writes while they fit the time budget, queueing after that.</summary>
    private struct Handoff(bool writeNow, MoltBeatMetrics metrics)
    {
        private readonly long _started = Stopwatch.GetTimestamp();
        private bool _writeNow = writeNow;
        // The event framed once, for every connection that takes it directly.
        private byte[]? _framed;
        private long _delivered;
        private long _written;

        public void To(ClientConnection connection, byte[] message)
        {
            // Direct writes run on the publishing thread: past the budget, the writers (on every core) take over.
            if (_writeNow && (_delivered & 63) == 63 && Stopwatch.GetElapsedTime(_started) > DirectWriteBudget)
                _writeNow = false;
            switch (connection.DeliverEvent(message, _writeNow ? _framed ??= CorkableStream.TextFrame(message) : null))
            {
                case EventHandoff.Written:
                    _written++;
                    _delivered++;
                    break;
                case EventHandoff.Queued:
                    _delivered++;
                    break;
            }
        }

        public readonly void Report()
        {
            if (_delivered > 0)
                metrics.MessagesSent.Add(_delivered);
            if (_written > 0)
            {
                metrics.FramesSent.Add(_written);
                metrics.BytesSent.Add(_written * _framed!.Length);
            }
        }
    }
}
