using System.Threading.Channels;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Rooms;
using StackExchange.Redis;

namespace MoltBeat.WebSocket.Redis;

/// <summary>
/// This node's side of delivery: one subscription to the deployment's channel, and one loop that hands
/// events to the sink in the order Redis published them, remembering the <c>all</c> epoch and offset of
/// the last one, which is where subscribes attach (<c>RedisEngine.Subscribe.cs</c>).
/// </summary>
public sealed partial class RedisEngine
{
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
    private long _markersReceived;
    private int _resyncing;

    private async Task StartDeliveryAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.OperationTimeout);
        _queue = await SubscribeWithinAsync(timeout.Token).ConfigureAwait(false);
        if (_queue is null)
        {
            _loop = Task.Run(() => SubscribeInBackgroundAsync(_stopping.Token), CancellationToken.None);
            return;
        }
        _loop = Task.Run(() => DeliverAsync(_queue, _stopping.Token), CancellationToken.None);
        // Learn the deployment's current position, so that the first subscribes attach at once.
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

    /// <summary>
    /// Subscribes to the deployment's channel, trying again until <paramref name="deadline"/>: the multiplexer
    /// connects its subscription socket after the interactive one, and under load a start can see the first
    /// ready and the second not yet. Giving up at once then left a started node that published into Redis but
    /// received nothing for a second, losing what was published meanwhile (seen in the test suite under load).
    /// </summary>
    /// <returns>The subscription, or null when Redis did not take it in time (the node then keeps trying in the background).</returns>
    private async Task<ChannelMessageQueue?> SubscribeWithinAsync(CancellationToken deadline)
    {
        var pause = TimeSpan.FromMilliseconds(10);
        while (true)
        {
            try
            {
                return await _redis!.GetSubscriber().SubscribeAsync(_keys.Events).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsUnavailable(ex))
            {
                try
                {
                    await Task.Delay(pause, deadline).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    _logger.SubscribeFailed(ex, _keys.EventsName);
                    return null;
                }
                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.TicksPerSecond / 4));
            }
        }
    }

    private async Task SubscribeInBackgroundAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250), stopping).ConfigureAwait(false);
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
                _logger.MessageFailed(ex);
            }
        }
    }

    private async ValueTask HandleAsync(byte[]? received)
    {
        if (received is null || received.Length == 0)
            return;
        var sink = _sink!;
        var (traceParent, body) = RedisMessage.SplitTrace(received);
        var message = body.Span;
        if (message.IsEmpty)
            return;
        switch (message[0])
        {
            case RedisMessage.Event:
                {
                    var (epoch, published) = RedisMessage.ParseEvent(message, traceParent: traceParent);
                    await _gate.WaitAsync().ConfigureAwait(false);
                    try
                    {
                        await CatchUpAsync(sink, epoch, published.Sequence - 1).ConfigureAwait(false);
                        OnEvent(sink, epoch, published);
                    }
                    finally
                    {
                        _gate.Release();
                    }
                    break;
                }
            case RedisMessage.Batch:
                {
                    // A publish call's events: parsed first, then delivered in order under one hold of the gate.
                    var events = RedisMessage.SplitBatch(body).Select(part =>
                    {
                        var (trace, one) = RedisMessage.SplitTrace(part);
                        return RedisMessage.ParseEvent(one.Span, traceParent: trace);
                    }).ToList();
                    await _gate.WaitAsync().ConfigureAwait(false);
                    try
                    {
                        foreach (var (epoch, published) in events)
                        {
                            // As for a single event: what a gap before it missed comes first, from the history.
                            await CatchUpAsync(sink, epoch, published.Sequence - 1).ConfigureAwait(false);
                            OnEvent(sink, epoch, published);
                        }
                    }
                    finally
                    {
                        _gate.Release();
                    }
                    break;
                }
            case RedisMessage.Broadcast:
                {
                    var published = new PublishedEvent(message[2..].ToArray(), null, null);
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
            case RedisMessage.Control:
                {
                    var control = RedisMessage.ParseControl(message);
                    // Under the gate, as deliveries are: the sink applies it between two events, in the channel's order.
                    await _gate.WaitAsync().ConfigureAwait(false);
                    try
                    {
                        sink.Control(control);
                    }
                    finally
                    {
                        _gate.Release();
                    }
                    break;
                }
            case RedisMessage.PresenceQuery:
                {
                    // Not under the gate: it reads this node's rooms, not the delivery order.
                    var text = System.Text.Encoding.UTF8.GetString(message[1..]);
                    var cut = text.IndexOf('\n', StringComparison.Ordinal);
                    if (cut > 0)
                        _ = AnswerPresenceAsync(text[..cut], text[(cut + 1)..]);
                    break;
                }
            case RedisMessage.Sync:
                {
                    var (epoch, offset) = RedisMessage.ParseSync(message);
                    await _gate.WaitAsync().ConfigureAwait(false);
                    try
                    {
                        await CatchUpAsync(sink, epoch, offset).ConfigureAwait(false);
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

    /// <summary>
    /// Delivers, from the <c>all</c> room's history, the events of this epoch up to <paramref name="upTo"/> that never
    /// reached this node: published while its subscription was down (Redis restarted, a failover moved it, a network
    /// blip). Without it this node's clients silently missed them until they next subscribed with <c>since</c>.
    /// Gate held; the loop waits for the read, which happens only when a message shows such a gap.
    /// </summary>
    private async Task CatchUpAsync(IEventSink sink, string epoch, long upTo)
    {
        // Only within the epoch this node follows: a new epoch starts afresh, and a node that never synced knows no gap.
        if (epoch != _epoch || upTo <= _delivered)
            return;
        var from = _delivered + 1;
        RedisResult result;
        try
        {
            result = await EvaluateAsync(RedisScripts.Missed, [_keys.History(WSRoom.AllEvents)], [from, upTo], "catch-up").ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is EngineUnavailableException or RedisException)
        {
            // Then as before: the message at hand is delivered, and the gap is logged as lost.
            _logger.CatchUpFailed(ex, from, upTo, epoch);
            return;
        }
        var missed = (RedisResult[])result!;
        foreach (var item in missed)
        {
            var (recordedIn, published) = RedisMessage.ParseEvent((byte[])item!);
            if (recordedIn != epoch)
                break; // Redis lost its data meanwhile: the message at hand switches the epoch
            OnEvent(sink, recordedIn, published);
        }
        if (missed.Length > 0)
            _logger.EventsCaughtUp(missed.Length, from, upTo, epoch);
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
            _logger.EventsLost(_delivered + 1, sequence - 1, epoch);
        _delivered = sequence;
        sink.Deliver(published);
        _recent.Add(published);
        ResolvePending();
    }

    /// <summary>
    /// After this node's subscription connection failed: asks for sync markers until one arrives, so that the events
    /// published meanwhile are caught up (<see cref="CatchUpAsync"/>) without waiting for the next event. A restored
    /// connection asks for one itself, but in a failover the multiplexer moves the subscription to another server's
    /// connection, which was up all along: nothing is restored then, and a quiet room's missed events stayed missed.
    /// </summary>
    private void OnSubscriptionLost()
    {
        if (Interlocked.Exchange(ref _resyncing, 1) == 0)
            _ = SyncOnceSubscribedAgainAsync(_stopping.Token);
    }

    private async Task SyncOnceSubscribedAgainAsync(CancellationToken stopping)
    {
        try
        {
            // Any marker received from now on was published after the subscription was back: it settles the gap.
            var seen = Volatile.Read(ref _markersReceived);
            while (Volatile.Read(ref _markersReceived) == seen)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250), stopping).ConfigureAwait(false);
                // Confirmed by a server (not the multiplexer's guess); a marker requested before that would not come back.
                if (_redis?.GetSubscriber().SubscribedEndpoint(_keys.Events) is not null)
                    await RequestSyncAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
        {
            // Stopping.
        }
        finally
        {
            Volatile.Write(ref _resyncing, 0);
        }
    }

    // Gate held.
    private void OnSync(string epoch, long offset)
    {
        Interlocked.Increment(ref _markersReceived);
        if (epoch != _epoch)
        {
            if (_retiredEpochs.Contains(epoch))
                return;
            SwitchEpoch(epoch, offset);
        }
        else if (offset > _delivered)
        {
            // Every event up to `offset` was published before this marker, so those not here are lost.
            _logger.EventsLost(_delivered + 1, offset, epoch);
            _delivered = offset;
        }
        ResolvePending();
    }

    // Gate held.
    private void SwitchEpoch(string epoch, long offset)
    {
        if (_epoch is not null)
        {
            _logger.EpochChanged(_epoch, epoch);
            _retiredEpochs.Enqueue(_epoch);
            if (_retiredEpochs.Count > RetiredEpochsKept)
                _retiredEpochs.Dequeue();
        }
        // The offset before the epoch: DeliveredPosition reads them the other way round, so it never pairs this epoch
        // with an offset of the one before.
        Volatile.Write(ref _delivered, offset);
        Volatile.Write(ref _epoch, epoch);
        _recent.Clear();
        _sharedReads.Clear();
    }

    /// <summary>
    /// The <c>all</c> epoch and offset this node delivered last (epoch empty: none yet), which the scripts compare with
    /// Redis to find it behind (<c>RedisScripts.Generation</c>). Any thread, without the gate: a publish must not wait
    /// for a delivery. The pair may be older than the latest delivery, never ahead of what Redis recorded.
    /// </summary>
    private (RedisValue Epoch, RedisValue Offset) DeliveredPosition()
    {
        var epoch = Volatile.Read(ref _epoch);
        var offset = Volatile.Read(ref _delivered);
        return (epoch ?? "", offset);
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
}
