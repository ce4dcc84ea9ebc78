using System.Threading.Channels;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Rooms;
using StackExchange.Redis;
using StreamPosition = MoltBeat.WebSocket.Protocol.StreamPosition;

namespace MoltBeat.WebSocket.Redis;

/// <summary>
/// This node's side of delivery: one subscription, one loop that hands events to the sink in the order
/// Redis published them, and subscribes that attach exactly between two deliveries.
/// </summary>
/// <remarks>
/// Every room event is recorded in <c>all</c>, so its offset there is a clock for the whole deployment.
/// The loop remembers the <c>all</c> epoch and offset of the last event it delivered. A subscribe reads
/// the room from Redis together with the <c>all</c> offset at that instant, then attaches when the loop
/// has delivered exactly up to that offset: events before it are in the replay, events after it arrive
/// live. If the loop is already past it, the subscribe reads again while the loop waits; if the loop is
/// not there yet, the loop itself attaches when it gets there. Events this node will never receive (lost
/// while its subscription was down) are settled by a sync marker published through the same channel.
/// </remarks>
public sealed partial class RedisEngine
{
    private const int MaxSubscribeAttempts = 5;
    private const int RetiredEpochsKept = 32;
    private const int RecentEventsKept = 4096;
    private const int SharedReadsKept = 256;

    // Held by the loop while it delivers one message, and by a subscribe while it decides where to attach.
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly List<PendingAttach> _pending = [];
    private readonly Queue<string> _retiredEpochs = new();
    private readonly RecentEvents _recent = new(RecentEventsKept);
    private readonly SharedReads<ReadResult> _sharedReads;
    private string? _epoch;
    private long _delivered;
    private ChannelMessageQueue? _queue;
    private Task _loop = Task.CompletedTask;

    /// <inheritdoc />
    public async ValueTask SubscribeAsync(string room, StreamPosition? since, Action<RecoveryResult> attach, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(attach);
        RoomName.EnsureValid(room);
        for (var attempt = 1; ; attempt++)
        {
            var sharedRead = _sharedReads.GetOrStart(room, since, () => ReadAsync(room, since));
            ReadResult read;
            try
            {
                read = await sharedRead.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _sharedReads.Forget(room, since, sharedRead);
                throw;
            }
            PendingAttach? pending = null;
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var state = Classify(read);
                if (state == Position.Behind && read.AllEpoch == _epoch
                    && _recent.TryCatchUp(room, read.Result, read.AllOffset, _delivered, out var caughtUp))
                {
                    // This node delivered past the read, and still holds what it delivered since.
                    attach(caughtUp);
                    return;
                }
                if (state == Position.Behind)
                {
                    _sharedReads.Forget(room, since, sharedRead);
                    // This node delivered past the read: read again while the loop waits, so that nothing
                    // is delivered between this read and the attach.
                    read = await ReadAsync(room, since).ConfigureAwait(false);
                    state = Classify(read);
                }
                if (state == Position.Ready)
                {
                    attach(read.Result);
                    return;
                }
                if (state == Position.Pending)
                {
                    pending = new PendingAttach(read, attach);
                    _pending.Add(pending);
                }
            }
            finally
            {
                _gate.Release();
            }
            if (pending is not null && await WaitForLoopAsync(pending, cancellationToken).ConfigureAwait(false))
                return;
            if (attempt == MaxSubscribeAttempts)
                throw new EngineUnavailableException("This node could not catch up with Redis to attach the subscription; try again.");
        }
    }

    private async Task StartDeliveryAsync(CancellationToken cancellationToken)
    {
        try
        {
            _queue = await _redis!.GetSubscriber().SubscribeAsync(_keys.Events).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            Log.SubscribeFailed(_logger, ex, _keys.EventsName);
        }
        if (_queue is null)
        {
            _loop = Task.Run(() => SubscribeInBackgroundAsync(_stopping.Token), CancellationToken.None);
            return;
        }
        _loop = Task.Run(() => DeliverAsync(_queue, _stopping.Token), CancellationToken.None);
        // Learn the deployment's current position, so that the first subscribes attach at once.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.OperationTimeout);
        try
        {
            var synced = await RequestSyncAsync().ConfigureAwait(false);
            while (synced && Volatile.Read(ref _epoch) is null)
                await Task.Delay(5, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Not synced yet: the first subscribes ask for a marker themselves.
        }
    }

    private async Task SubscribeInBackgroundAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), stopping).ConfigureAwait(false);
                var queue = await _redis!.GetSubscriber().SubscribeAsync(_keys.Events).ConfigureAwait(false);
                _queue = queue;
                _ = RequestSyncAsync();
                await DeliverAsync(queue, stopping).ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception ex) when (IsUnavailable(ex))
            {
                // Still down; StackExchange.Redis keeps reconnecting.
            }
        }
    }

    private async Task StopDeliveryAsync()
    {
        if (_queue is { } queue)
        {
            try
            {
                await queue.UnsubscribeAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (IsUnavailable(ex))
            {
                // Redis is gone; the subscription went with it.
            }
        }
        try
        {
            await _loop.WaitAsync(_options.OperationTimeout).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            // The loop ends with the multiplexer.
        }
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            foreach (var pending in _pending)
                pending.Completion.TrySetCanceled();
            _pending.Clear();
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The loop: one message at a time, in the order Redis published them.</summary>
    private async Task DeliverAsync(ChannelMessageQueue queue, CancellationToken stopping)
    {
        while (true)
        {
            ChannelMessage message;
            try
            {
                message = await queue.ReadAsync(stopping).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is ChannelClosedException or OperationCanceledException)
            {
                return;
            }
            try
            {
                await HandleAsync((byte[]?)message.Message).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.MessageFailed(_logger, ex);
            }
        }
    }

    private async ValueTask HandleAsync(byte[]? message)
    {
        if (message is null || message.Length == 0)
            return;
        var sink = _sink!;
        switch (message[0])
        {
            case RedisMessage.Event:
                {
                    var (epoch, published) = RedisMessage.ParseEvent(message);
                    await _gate.WaitAsync().ConfigureAwait(false);
                    try
                    {
                        OnEvent(sink, epoch, published);
                    }
                    finally
                    {
                        _gate.Release();
                    }
                    break;
                }
            case RedisMessage.Broadcast:
                {
                    var published = new PublishedEvent(message.AsSpan(2).ToArray(), null, null);
                    await _gate.WaitAsync().ConfigureAwait(false);
                    try
                    {
                        sink.Deliver(published);
                    }
                    finally
                    {
                        _gate.Release();
                    }
                    break;
                }
            case RedisMessage.Sync:
                {
                    var (epoch, offset) = RedisMessage.ParseSync(message);
                    await _gate.WaitAsync().ConfigureAwait(false);
                    try
                    {
                        OnSync(epoch, offset);
                    }
                    finally
                    {
                        _gate.Release();
                    }
                    break;
                }
            default:
                throw new FormatException("Unknown message kind on the Redis channel.");
        }
    }

    // Gate held.
    private void OnEvent(IEventSink sink, string epoch, PublishedEvent published)
    {
        if (epoch != _epoch)
        {
            if (_retiredEpochs.Contains(epoch))
                return; // from a Redis state that is gone
            SwitchEpoch(epoch, 0);
        }
        var sequence = published.Sequence;
        if (sequence <= _delivered)
            return; // delivered already, or given up as lost by a sync marker
        if (sequence > _delivered + 1 && _delivered > 0)
            Log.EventsLost(_logger, _delivered + 1, sequence - 1, epoch);
        _delivered = sequence;
        sink.Deliver(published);
        _recent.Add(published);
        ResolvePending();
    }

    // Gate held.
    private void OnSync(string epoch, long offset)
    {
        if (epoch != _epoch)
        {
            if (_retiredEpochs.Contains(epoch))
                return;
            SwitchEpoch(epoch, offset);
        }
        else if (offset > _delivered)
        {
            // Every event up to `offset` was published before this marker, so those not here are lost.
            Log.EventsLost(_logger, _delivered + 1, offset, epoch);
            _delivered = offset;
        }
        ResolvePending();
    }

    // Gate held.
    private void SwitchEpoch(string epoch, long offset)
    {
        if (_epoch is not null)
        {
            Log.EpochChanged(_logger, _epoch, epoch);
            _retiredEpochs.Enqueue(_epoch);
            if (_retiredEpochs.Count > RetiredEpochsKept)
                _retiredEpochs.Dequeue();
        }
        Volatile.Write(ref _epoch, epoch);
        _delivered = offset;
        _recent.Clear();
        _sharedReads.Clear();
    }

    // Gate held: attaches the subscribes waiting for this point, and retries those it went past.
    private void ResolvePending()
    {
        for (var i = 0; i < _pending.Count; i++)
        {
            var pending = _pending[i];
            bool? attach = pending.Read.AllEpoch == _epoch
                ? (pending.Read.AllOffset == _delivered ? true : pending.Read.AllOffset < _delivered ? false : null)
                : _retiredEpochs.Contains(pending.Read.AllEpoch) ? false : null;
            if (attach is not { } now)
                continue;
            _pending.RemoveAt(i--);
            if (now)
                pending.Attach();
            else
                pending.Completion.TrySetResult(false);
        }
    }

    // Gate held.
    private Position Classify(ReadResult read)
    {
        if (read.AllEpoch == _epoch)
            return read.AllOffset == _delivered ? Position.Ready : read.AllOffset > _delivered ? Position.Pending : Position.Behind;
        if (_retiredEpochs.Contains(read.AllEpoch))
            return Position.Behind; // read from a Redis state that is gone since
        if (read.AllOffset == 0)
        {
            // Nothing was published in this epoch yet (e.g. Redis came back empty): start it here.
            SwitchEpoch(read.AllEpoch, 0);
            return Position.Ready;
        }
        return Position.Pending;
    }

    /// <summary>Waits until the loop attached the subscribe (true) or asks for a retry (false).</summary>
    private async Task<bool> WaitForLoopAsync(PendingAttach pending, CancellationToken cancellationToken)
    {
        try
        {
            // Usually the events before the read are on their way and arrive within microseconds.
            if (await WaitAsync(pending, _options.CatchUpDelay, cancellationToken).ConfigureAwait(false) is { } done)
                return done;
            // Some never will (lost while this node's subscription was down): a marker settles them.
            await RequestSyncAsync().ConfigureAwait(false);
            if (await WaitAsync(pending, _options.OperationTimeout, cancellationToken).ConfigureAwait(false) is { } settled)
                return settled;
            throw new EngineUnavailableException("No events arrive from Redis on this node; the subscription was not attached.");
        }
        finally
        {
            await _gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            try
            {
                if (_pending.Remove(pending))
                    pending.Completion.TrySetResult(false);
            }
            finally
            {
                _gate.Release();
            }
        }
    }

    private static async Task<bool?> WaitAsync(PendingAttach pending, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            return await pending.Completion.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return null;
        }
    }

    /// <summary>Asks Redis to publish a sync marker; false when Redis is unreachable.</summary>
    private async Task<bool> RequestSyncAsync()
    {
        try
        {
            await EvaluateAsync(RedisScripts.Sync, [_allMeta], [_keys.EventsName, NewEpoch(), _idleMs], "sync").ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is EngineUnavailableException or RedisException)
        {
            Log.SyncFailed(_logger, ex);
            return false;
        }
    }

    private async Task<ReadResult> ReadAsync(string room, StreamPosition? since)
    {
        RedisKey[] keys = [_keys.Meta(room), _keys.History(room), _allMeta];
        RedisValue[] args =
        [
            NewEpoch(),
            since is { } s ? s.Epoch : "",
            since is { } p ? p.Offset : 0,
            _maxCount,
            _maxAgeMs,
            _idleMs,
        ];
        var result = await EvaluateAsync(RedisScripts.Read, keys, args, "subscribe").ConfigureAwait(false);
        var items = (RedisResult[])result!;
        var position = new StreamPosition((string)items[0]!, (long)items[1]);
        var status = (int)items[4];
        var missed = new List<PublishedEvent>(items.Length - 5);
        for (var i = 5; i < items.Length; i++)
            missed.Add(RedisMessage.ParseEvent((byte[])items[i]!).Event);
        var recovered = status switch { 0 => (bool?)null, 1 => true, _ => false };
        return new ReadResult(new RecoveryResult(position, recovered, missed), (string)items[2]!, (long)items[3]);
    }

    private enum Position
    {
        /// <summary>The loop delivered exactly up to the read: attach now.</summary>
        Ready,

        /// <summary>The loop has not delivered up to the read yet: it attaches when it gets there.</summary>
        Pending,

        /// <summary>The loop delivered past the read: read again.</summary>
        Behind,
    }

    private sealed record ReadResult(RecoveryResult Result, string AllEpoch, long AllOffset);

    /// <summary>A subscribe waiting for the loop to reach its read's <c>all</c> offset.</summary>
    private sealed class PendingAttach(ReadResult read, Action<RecoveryResult> attach)
    {
        public ReadResult Read { get; } = read;

        /// <summary>True once attached, false to read again.</summary>
        public TaskCompletionSource<bool> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Attach()
        {
            try
            {
                attach(Read.Result);
                Completion.TrySetResult(true);
            }
            catch (Exception ex)
            {
                Completion.TrySetException(ex);
            }
        }
    }
}
