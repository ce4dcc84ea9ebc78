using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using MoltBeat.WebSocket.Engine;

namespace MoltBeat.WebSocket.Server.Occupancy;

/// <summary>
/// Room occupied / vacated transitions (protocol 1.1) for <see cref="MoltBeatWSServer.RoomOccupied"/> and
/// <see cref="MoltBeatWSServer.RoomVacated"/>: when a room gets its first subscriber on this node, the engine is asked to
/// mark it occupied (it says whether this was the transition, on any node); every second, the engine hands out the rooms
/// that have had nobody anywhere for the debounce. The engine decides each transition once for the deployment, so each
/// event is raised on one node only, and a dashboard that reconnects within the debounce raises neither.
/// </summary>
/// <remarks>Runs only once started (an event handler, or <see cref="WSServerOptions.TrackRoomOccupancy"/>); in a cluster every node must track.</remarks>
internal sealed class RoomOccupancyTracker(IMoltBeatEngine engine, ConnectionHub hub, ILogger logger, TimeProvider time, TimeSpan debounce,
    Action<string> occupied, Action<string> vacated) : IAsyncDisposable
{
    private readonly Channel<string> _firstSubscribers = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private Task _marking = Task.CompletedTask;
    private ITimer? _sweep;
    private int _started;
    private int _sweeping;

    /// <summary>Starts tracking (once); the rooms this node holds already are marked at once.</summary>
    public void Start(Task engineStarted)
    {
        if (Interlocked.Exchange(ref _started, 1) == 1)
            return;
        lock (hub.Order)
        {
            hub.FirstLocalSubscriber = room => _firstSubscribers.Writer.TryWrite(room);
            foreach (var (room, _) in hub.RoomCounts())
                _firstSubscribers.Writer.TryWrite(room);
        }
        _marking = Task.Run(() => MarkAsync(engineStarted), CancellationToken.None);
        _sweep = time.CreateTimer(static s => _ = ((RoomOccupancyTracker)s!).SweepAsync(), this, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    private async Task MarkAsync(Task engineStarted)
    {
        await engineStarted.ConfigureAwait(false);
        try
        {
            await foreach (var room in _firstSubscribers.Reader.ReadAllAsync(_stopping.Token).ConfigureAwait(false))
            {
                try
                {
                    if (await engine.MarkOccupiedAsync(room, _stopping.Token).ConfigureAwait(false))
                        occupied(room);
                }
                catch (EngineUnavailableException ex)
                {
                    // Tried again at the next sweep while the room still has subscribers here.
                    ServerLog.OccupancyFailed(logger, ex, room);
                    _retry.Add(room);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    // Rooms whose marking failed (engine down), marked again by the sweep; touched by the marking loop and the sweep, one at a time each.
    private readonly System.Collections.Concurrent.ConcurrentBag<string> _retry = [];

    private async Task SweepAsync()
    {
        if (Interlocked.Exchange(ref _sweeping, 1) == 1)
            return;
        try
        {
            while (_retry.TryTake(out var room))
            {
                if (hub.Members(room) > 0)
                    _firstSubscribers.Writer.TryWrite(room);
            }
            foreach (var room in await engine.TakeVacatedAsync(debounce, _stopping.Token).ConfigureAwait(false))
                vacated(room);
        }
        catch (Exception ex) when (ex is EngineUnavailableException or OperationCanceledException or InvalidOperationException)
        {
            // Not started yet, stopping, or the engine is down: the next sweep tries again.
            if (ex is EngineUnavailableException unavailable)
                ServerLog.OccupancyFailed(logger, unavailable, null);
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
            return;
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_sweep is not null)
            await _sweep.DisposeAsync().ConfigureAwait(false);
        hub.FirstLocalSubscriber = null;
        await _marking.ConfigureAwait(false);
    }
}
