using Microsoft.Extensions.Logging;

namespace MoltBeat.WebSocket.Server.Outgoing;

/// <summary>
/// The outgoing path of a server: a few fan-out workers (<see cref="WSServerOptions.FanoutWorkers"/>, by
/// default one per core), each the only writer of the connections assigned to it.
/// </summary>
/// <remarks>
/// The contract:
/// <list type="bullet">
/// <item><b>Publishing never waits for sockets.</b> The hub posts an event to each worker's lane with
/// that worker's members of its rooms (a snapshot taken when the engine delivers it, atomically with
/// subscribes): a publish costs one post per worker, however big the room, and no engine lock is held
/// while anything is written.</item>
/// <item><b>Order.</b> Everything a connection is sent goes through its worker's lane: events, replies,
/// replays, pings, the close. The lane is ordered, so a connection receives events in delivery order,
/// an <c>unsubscribed</c> reply after every event of that room delivered before it, and a replay before
/// the live events that follow it.</item>
/// <item><b>Coalescing by construction.</b> A worker takes its whole lane per round and writes each
/// connection once per round; a connection with a write in flight (its socket pushes back) is skipped
/// and gets everything that waited in one write when it completes. No timer decides.</item>
/// <item><b>Bounded.</b> What waits for one connection is bounded (<see cref="ConnectionOutput"/>):
/// a client that falls too far behind is closed with 4009 and nobody else waits for it.</item>
/// </list>
/// </remarks>
internal sealed class FanoutWorkers : IDisposable
{
    private readonly FanoutWorker[] _workers;
    private int _next = -1;

    /// <summary>Starts <paramref name="count"/> workers.</summary>
    public FanoutWorkers(int count, MoltBeatMetrics metrics, ILogger logger)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        _workers = new FanoutWorker[count];
        for (var i = 0; i < count; i++)
            _workers[i] = new FanoutWorker(i, metrics, logger);
    }

    /// <summary>The workers, by <see cref="FanoutWorker.Index"/>.</summary>
    public IReadOnlyList<FanoutWorker> All => _workers;

    /// <summary>The worker for a new connection: in turn, so that each owns an even share.</summary>
    public FanoutWorker Assign() => _workers[(int)((uint)Interlocked.Increment(ref _next) % (uint)_workers.Length)];

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var worker in _workers)
            worker.Dispose();
    }
}
