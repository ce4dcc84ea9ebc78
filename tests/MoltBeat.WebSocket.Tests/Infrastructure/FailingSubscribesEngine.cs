using MoltBeat.WebSocket.Engine;

namespace MoltBeat.WebSocket.Tests.Infrastructure;

/// <summary>
/// The in-memory engine, except that the next <see cref="FailNextSubscribes"/> subscribes fail the way a
/// Redis engine's do while Redis is out of reach (<see cref="EngineUnavailableException"/>): the server
/// answers them with <c>error</c> code <c>internal</c>.
/// </summary>
public sealed class FailingSubscribesEngine(InMemoryEngine inner) : IMoltBeatEngine
{
    private int _failNext;

    /// <summary>How many of the next subscribes fail.</summary>
    public int FailNextSubscribes
    {
        get => Volatile.Read(ref _failNext);
        set => Volatile.Write(ref _failNext, value);
    }

    public Task StartAsync(IEventSink sink, CancellationToken cancellationToken) => inner.StartAsync(sink, cancellationToken);

    public ValueTask<PublishedEvent> PublishAsync(PublishRequest request, CancellationToken cancellationToken) => inner.PublishAsync(request, cancellationToken);

    public ValueTask BroadcastToAllAsync(PublishedEvent published, CancellationToken cancellationToken) => inner.BroadcastToAllAsync(published, cancellationToken);

    public ValueTask SubscribeAsync(string room, ReplayRequest replay, Action<RecoveryResult> attach, CancellationToken cancellationToken)
    {
        if (Interlocked.Decrement(ref _failNext) >= 0)
            throw new EngineUnavailableException("test: the engine is unavailable for this subscribe");
        Interlocked.Exchange(ref _failNext, 0);
        return inner.SubscribeAsync(room, replay, attach, cancellationToken);
    }

    public ValueTask PublishControlAsync(EngineControl control, CancellationToken cancellationToken) => inner.PublishControlAsync(control, cancellationToken);

    public ValueTask<DateTimeOffset?> GetRevocationAsync(string userId, CancellationToken cancellationToken) => inner.GetRevocationAsync(userId, cancellationToken);

    public ValueTask<MoltBeat.WebSocket.Protocol.StreamPosition> GetPositionAsync(string room, CancellationToken cancellationToken) => inner.GetPositionAsync(room, cancellationToken);

    public ValueTask<long> GetSubscribersAsync(string room, CancellationToken cancellationToken) => inner.GetSubscribersAsync(room, cancellationToken);

    public ValueTask<bool> MarkOccupiedAsync(string room, CancellationToken cancellationToken) => inner.MarkOccupiedAsync(room, cancellationToken);

    public ValueTask<IReadOnlyList<string>> TakeVacatedAsync(TimeSpan debounce, CancellationToken cancellationToken) => inner.TakeVacatedAsync(debounce, cancellationToken);

    public ValueTask<RoomPresence> GetPresenceAsync(string room, int maxUsers, CancellationToken cancellationToken) => inner.GetPresenceAsync(room, maxUsers, cancellationToken);

    public ValueTask<IReadOnlyList<NodeInfo>> GetNodesAsync(CancellationToken cancellationToken) => inner.GetNodesAsync(cancellationToken);

    public ValueTask<RecoveryResult> ReadHistoryAsync(string room, ReplayRequest request, CancellationToken cancellationToken) => inner.ReadHistoryAsync(room, request, cancellationToken);

    public EngineStats GetStats() => inner.GetStats();

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
