using System.Security.Cryptography;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Engine;

/// <summary>
/// The default engine for one node: offsets, history and delivery in this process. One lock makes
/// "assign offsets, append to history, deliver" atomic, which is what lets recovery meet live events
/// without gap or duplicate. A restart loses history, so every room gets a new epoch.
/// </summary>
public sealed class InMemoryEngine : IMoltBeatEngine
{
    private readonly Lock _sync = new();
    private readonly Dictionary<string, RoomStream> _streams = new(StringComparer.Ordinal);

    // Every room of this engine shares one epoch: their histories are all lost together, at a restart.
    // A room nobody has published to has no stream at all (position: this epoch, offset 0), so that
    // subscribing to made-up room names costs the server nothing.
    private readonly string _epoch = NewEpoch();
    private readonly HistoryOptions _history;
    private readonly TimeProvider _time;
    private readonly ITimer _trimTimer;
    // User id → when it was last revoked (kept RevocationKept, forgotten lazily). Under _sync.
    private readonly Dictionary<string, DateTimeOffset> _revocations = new(StringComparer.Ordinal);
    private DateTimeOffset _revocationsPurged;
    // Idempotency key → the first publish's event and the timestamp at which it is forgotten. Under _sync.
    private readonly Dictionary<string, (PublishedEvent First, long Expires)> _idempotency = new(StringComparer.Ordinal);
    // The same keys in the order they were published, hence in expiry order: forgotten from the front, one peek per
    // publish and per trim, so the map never holds more than the keys published within one window.
    private readonly Queue<(string Key, long Expires)> _idempotencyOrder = new();
    private readonly long _idempotencyWindow;
    private readonly OccupancyLedger _occupancy;
    private IEventSink? _sink;
    private long _historyEntries;
    private long _historyBytes;

    /// <summary>Creates the engine.</summary>
    /// <param name="history">History bounds per room; defaults when null.</param>
    /// <param name="timeProvider">The clock for history age; the system clock when null.</param>
    public InMemoryEngine(HistoryOptions? history = null, TimeProvider? timeProvider = null)
    {
        _history = history ?? new HistoryOptions();
        _history.Validate();
        _time = timeProvider ?? TimeProvider.System;
        _occupancy = new OccupancyLedger(_time);
        _idempotencyWindow = (long)(ProtocolLimits.IdempotencyWindow.TotalSeconds * _time.TimestampFrequency);
        // One timer for the whole engine ages out rooms that nobody publishes to any more.
        var period = _history.MaxAge / 4 < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : _history.MaxAge / 4;
        _trimTimer = _time.CreateTimer(static s => ((InMemoryEngine)s!).TrimExpired(), this, period, period);
    }

    /// <inheritdoc />
    public Task StartAsync(IEventSink sink, CancellationToken cancellationToken)
    {
        _sink = sink ?? throw new ArgumentNullException(nameof(sink));
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    /// <remarks>
    /// An idempotency key is remembered for <see cref="ProtocolLimits.IdempotencyWindow"/> by this engine's clock, with the
    /// event it published (held, with its frame, for that long). The check and the publish share the engine's lock.
    /// </remarks>
    public ValueTask<PublishedEvent> PublishAsync(PublishRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var sink = _sink ?? throw new InvalidOperationException("The engine has not been started.");
        var rooms = request.DeliveryRooms;
        var offsets = new long[rooms.Length];
        var key = request.IdempotencyKey;
        PublishedEvent published;
        lock (_sync)
        {
            var now = _time.GetTimestamp();
            ForgetExpiredKeys(now);
            if (key is not null && _idempotency.TryGetValue(key, out var seen))
                return ValueTask.FromResult(seen.First.AsDuplicate());
            var streams = new RoomStream[rooms.Length];
            var pairs = new KeyValuePair<string, long>[rooms.Length];
            for (var i = 0; i < rooms.Length; i++)
            {
                streams[i] = GetOrCreateStream(rooms[i]);
                offsets[i] = streams[i].NextOffset();
                pairs[i] = new(rooms[i], offsets[i]);
            }
            var frame = EventFrame.Build(request.Rooms, request.EventName, request.Data.Span, request.TimestampMs, request.Key, pairs);
            published = new PublishedEvent(frame, rooms, offsets) { TraceParent = request.TraceParent };
            for (var i = 0; i < rooms.Length; i++)
            {
                published.HistoryReferences++;
                _historyEntries++;
                streams[i].Append(published, offsets[i], now, _history.MaxEventsPerRoom, Evicted);
            }
            if (published.HistoryReferences > 0)
                _historyBytes += frame.Length;
            if (_history.MaxEventsPerRoom == 0)
                Evicted(published, rooms.Length);
            if (key is not null)
            {
                _idempotency[key] = (published, now + _idempotencyWindow);
                _idempotencyOrder.Enqueue((key, now + _idempotencyWindow));
            }
            sink.Deliver(published);
        }
        return ValueTask.FromResult(published);
    }

    /// <inheritdoc />
    public ValueTask BroadcastToAllAsync(PublishedEvent published, CancellationToken cancellationToken)
    {
        var sink = _sink ?? throw new InvalidOperationException("The engine has not been started.");
        lock (_sync)
            sink.Deliver(published);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    /// <remarks>Applied on this node before it completes: this engine has no other node.</remarks>
    public ValueTask PublishControlAsync(EngineControl control, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(control);
        var sink = _sink ?? throw new InvalidOperationException("The engine has not been started.");
        lock (_sync)
        {
            if (control.Kind == EngineControlKind.RevokeUser)
                KeepRevocation(control.UserId, control.At);
            sink.Control(control);
        }
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<StreamPosition> GetPositionAsync(string room, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(room);
        lock (_sync)
            return ValueTask.FromResult(_streams.GetValueOrDefault(room)?.Position ?? new StreamPosition(_epoch, 0));
    }

    /// <inheritdoc />
    /// <remarks>One node: its sink's count.</remarks>
    public ValueTask<long> GetSubscribersAsync(string room, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(room);
        var sink = _sink ?? throw new InvalidOperationException("The engine has not been started.");
        return ValueTask.FromResult((long)sink.Subscribers(room));
    }

    /// <inheritdoc />
    /// <remarks>One node: this one, <c>local</c>.</remarks>
    public ValueTask<IReadOnlyList<NodeInfo>> GetNodesAsync(CancellationToken cancellationToken)
    {
        var sink = _sink ?? throw new InvalidOperationException("The engine has not been started.");
        return ValueTask.FromResult<IReadOnlyList<NodeInfo>>([new NodeInfo("local", sink.Connections, DateTimeOffset.UtcNow, Self: true)]);
    }

    /// <inheritdoc />
    public ValueTask<bool> MarkOccupiedAsync(string room, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(room);
        return ValueTask.FromResult(_occupancy.MarkOccupied(room));
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> TakeVacatedAsync(TimeSpan debounce, CancellationToken cancellationToken)
    {
        var sink = _sink ?? throw new InvalidOperationException("The engine has not been started.");
        return ValueTask.FromResult(_occupancy.TakeVacated(debounce, room => sink.Subscribers(room)));
    }

    /// <inheritdoc />
    public ValueTask<RoomPresence> GetPresenceAsync(string room, int maxUsers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(room);
        var sink = _sink ?? throw new InvalidOperationException("The engine has not been started.");
        var (users, anonymous) = sink.Presence(room);
        return ValueTask.FromResult(PresenceMerge.Of(room, [(users, anonymous)], maxUsers));
    }

    /// <inheritdoc />
    public ValueTask<DateTimeOffset?> GetRevocationAsync(string userId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(userId);
        lock (_sync)
        {
            DateTimeOffset? kept = _revocations.TryGetValue(userId, out var at) && at + EngineControl.RevocationKept > _time.GetUtcNow() ? at : null;
            return ValueTask.FromResult(kept);
        }
    }

    // Under _sync: forgets the idempotency keys whose window has passed.
    private void ForgetExpiredKeys(long now)
    {
        while (_idempotencyOrder.TryPeek(out var oldest) && oldest.Expires <= now)
        {
            _idempotencyOrder.Dequeue();
            if (_idempotency.TryGetValue(oldest.Key, out var kept) && kept.Expires == oldest.Expires)
                _idempotency.Remove(oldest.Key);
        }
    }

    // Under _sync.
    private void KeepRevocation(string userId, DateTimeOffset at)
    {
        if (!_revocations.TryGetValue(userId, out var previous) || previous < at)
            _revocations[userId] = at;
        // Forget the revocations past their time, at most once a minute (each costs a user id only).
        var now = _time.GetUtcNow();
        if (now - _revocationsPurged < TimeSpan.FromMinutes(1))
            return;
        _revocationsPurged = now;
        foreach (var (user, revokedAt) in _revocations)
        {
            if (revokedAt + EngineControl.RevocationKept <= now)
                _revocations.Remove(user);
        }
    }

    /// <inheritdoc />
    public ValueTask SubscribeAsync(string room, ReplayRequest replay, Action<RecoveryResult> attach, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(attach);
        lock (_sync)
            attach(Read(room, replay));
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<RecoveryResult> ReadHistoryAsync(string room, ReplayRequest request, CancellationToken cancellationToken)
    {
        lock (_sync)
            return ValueTask.FromResult(Read(room, request));
    }

    // Under _sync.
    private RecoveryResult Read(string room, ReplayRequest request)
    {
        ArgumentNullException.ThrowIfNull(room);
        ArgumentNullException.ThrowIfNull(request);
        var stream = _streams.GetValueOrDefault(room);
        stream?.TrimOlderThan(AgeCutoff(), Evicted);
        var current = stream?.Position ?? new StreamPosition(_epoch, 0);
        bool? recovered = null;
        if (request.Since is { } position)
        {
            if (position.Epoch == current.Epoch && (stream is null ? (position.Offset == 0 ? [] : null) : stream.EventsAfter(position.Offset)) is { } missed)
                return new(current, true, missed);
            recovered = false;
        }
        return new(current, recovered, request.Last > 0 && stream is not null ? stream.LastEvents(request.Last) : []);
    }

    /// <summary>Rooms that have a stream (were published to), whether or not their history has aged out.</summary>
    internal int StreamCount
    {
        get
        {
            lock (_sync)
                return _streams.Count;
        }
    }

    /// <summary>Idempotency keys remembered now (within their window, or past it and not yet forgotten).</summary>
    internal int IdempotencyKeyCount
    {
        get
        {
            lock (_sync)
                return _idempotency.Count;
        }
    }

    /// <inheritdoc />
    public EngineStats GetStats()
    {
        lock (_sync)
            return new EngineStats("memory", true, _streams.Count(s => s.Value.Count > 0), _historyEntries, _historyBytes);
    }

    /// <summary>Drops events older than the history's age bound from every room, and idempotency keys past their window.</summary>
    public void TrimExpired()
    {
        lock (_sync)
        {
            var cutoff = AgeCutoff();
            foreach (var stream in _streams.Values)
                stream.TrimOlderThan(cutoff, Evicted);
            ForgetExpiredKeys(_time.GetTimestamp());
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        _trimTimer.Dispose();
        return ValueTask.CompletedTask;
    }

    private long AgeCutoff() => _time.GetTimestamp() - (long)(_history.MaxAge.TotalSeconds * _time.TimestampFrequency);

    private RoomStream GetOrCreateStream(string room)
    {
        // Streams are kept for the life of the process even when their history has aged out: dropping
        // one would restart its offsets under subscribers that hold a position in it. Only publishes
        // create them, so their number is the number of rooms the application publishes to.
        if (!_streams.TryGetValue(room, out var stream))
            _streams[room] = stream = new RoomStream(_epoch);
        return stream;
    }

    private void Evicted(PublishedEvent published) => Evicted(published, 1);

    private void Evicted(PublishedEvent published, int references)
    {
        _historyEntries -= references;
        published.HistoryReferences -= references;
        if (published.HistoryReferences == 0)
            _historyBytes -= published.Frame.Length;
    }

    private static string NewEpoch()
    {
        Span<byte> bytes = stackalloc byte[6];
        RandomNumberGenerator.Fill(bytes);
        return Convert.ToHexStringLower(bytes);
    }
}
