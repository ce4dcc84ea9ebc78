using System.Buffers;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Server.Outgoing;

/// <summary>
/// Everything one connection sends, in order: events, replies, replays, pings and, last, the close frame.
/// Other threads only post to it (through its <see cref="FanoutWorker"/>'s lane, which is what orders a
/// reply against the events delivered before it); the worker alone touches its state, so it has no lock.
/// </summary>
/// <remarks>
/// <para>One write at a time: what arrives while a write is in flight, or while the worker is busy with
/// other connections, waits here and joins the next write (one frame for a batching client, one
/// <c>send</c> for the others). Nothing decides it by time: an isolated event leaves in the worker's next
/// round, and coalescing grows with load by itself.</para>
/// <para>The slow-consumer bound counts what waits here, which only grows while the client's socket
/// pushes back; past it the waiting items are dropped and the client is closed with 4009. Replays do not
/// count: their bytes are the history's own (shared, already bounded by it), and counting them would close
/// a client that was cut off for being slow again on every attempt to recover.</para>
/// <para>Conflation (protocol 1.1) lives here too, off the common path: past half the bound, the live events with a key
/// that still wait are conflated (<see cref="PendingItems.ConflateLiveEvents"/>) before 4009 is considered, and again
/// each time the queue gets half-way closer to the bound; a subscription with <c>maxRate</c> holds its room's events in
/// a <see cref="SubscriptionThrottle"/> until their release. A connection below half its bound and without
/// <c>maxRate</c> pays one comparison per item for both.</para>
/// </remarks>
internal sealed class ConnectionOutput(FanoutWorker worker, ConnectionStream stream, IOutputOwner owner, OutputLimits limits)
{
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private PendingItems _pending;
    private long _boundedBytes;
    private int _boundedMessages;
    // Where conflation under lag runs next (half the bound, then half-way from what is left to the bound).
    private long _conflateAtBytes = limits.MaxQueuedBytes / 2;
    private int _conflateAtMessages = limits.MaxQueuedMessages / 2;
    // Room → its subscription's maxRate; null while no subscription has one (the common case).
    private Dictionary<string, SubscriptionThrottle>? _throttles;
    private bool _writing;
    private CloseMode _close;
    private bool _closeStarted;
    private bool _done;

    private enum CloseMode : byte
    {
        None,
        AfterQueued,
        Now,
    }

    /// <summary>Bytes waiting under the slow-consumer bound (read from any thread: a moment's value, for operations views).</summary>
    public long QueuedBytes => Volatile.Read(ref _boundedBytes);

    /// <summary>Messages waiting under the slow-consumer bound (same caveat as <see cref="QueuedBytes"/>).</summary>
    public int QueuedMessages => Volatile.Read(ref _boundedMessages);

    /// <summary>The connection's user id (null: anonymous), for presence.</summary>
    public string? UserId => owner.UserId;

    /// <summary>The worker that owns this output.</summary>
    public FanoutWorker Worker => worker;

    /// <summary>Completes when nothing more will be written: after the close frame, or when the transport failed.</summary>
    public Task Finished => _finished.Task;

    /// <summary>Worker only: the event stamp that keeps one publish to one delivery per connection.</summary>
    internal long DeliveryStamp { get; set; }

    /// <summary>Worker only: whether it is in the worker's list to flush.</summary>
    internal bool IsDirty { get; set; }

    /// <summary>Worker only: whether any of its subscriptions has a <c>maxRate</c>.</summary>
    internal bool HasThrottles => _throttles is not null;

    /// <summary>
    /// Worker only, while it hands out one event: the throttle the event will wait in, unless another of the connection's
    /// rooms of that event has no <c>maxRate</c> (then it goes at once, and this is cleared).
    /// </summary>
    internal SubscriptionThrottle? HeldBy { get; set; }

    /// <summary>Queues a message (or a ping when <paramref name="message"/> is null) after everything posted before it.</summary>
    public void Post(byte[]? message, OutgoingKind kind) => worker.Post(FanoutWorker.WorkItem.Send(this, new OutgoingItem(message, kind)));

    /// <summary>Queues a replayed event of <paramref name="room"/> after everything posted before it (held by the room's <c>maxRate</c>, if any).</summary>
    /// <param name="replayed">The event.</param>
    /// <param name="room">The subscription's room.</param>
    /// <param name="conflated">How many older replayed events of its key it stands for (a subscription with <c>maxRate</c> conflates its replay).</param>
    public void PostReplay(PublishedEvent replayed, string room, int conflated) =>
        worker.Post(FanoutWorker.WorkItem.SendForRoom(this, new OutgoingItem(replayed, OutgoingKind.Replay) { Conflated = conflated }, room));

    /// <summary>Sets the <c>maxRate</c> of the subscription to <paramref name="room"/> (0: none), in order with what is posted around it.</summary>
    public void PostRate(string room, double maxRate) => worker.Post(FanoutWorker.WorkItem.Rate(this, room, maxRate));

    /// <summary>Ends the output: after what was posted before (<paramref name="flushQueued"/>) or dropping it; the close frame goes last.</summary>
    public void PostClose(bool flushQueued) => worker.Post(FanoutWorker.WorkItem.Close(this, flushQueued));

    /// <summary>Worker: adds an item; false when it was dropped (closing, or the bound was just passed).</summary>
    internal bool Append(OutgoingItem item)
    {
        if (_close != CloseMode.None || _done)
            return false;
        _pending.Add(item);
        return !item.IsBounded || Account(item.Length, 1);
    }

    /// <summary>
    /// Worker: an event of <paramref name="room"/> (live, or replayed by its subscribe): held by the room's
    /// <c>maxRate</c> when it has one, else added as <see cref="Append"/> does. False when nothing is to be written now.
    /// </summary>
    internal bool AppendForRoom(OutgoingItem item, string room, long now)
    {
        // A replay arrives conflated already (the subscribe counted what follows it): it leaves now, as the room's release.
        if (item.Kind == OutgoingKind.Replay && ThrottleOf(room) is { } throttle)
            throttle.CountRelease(now);
        return Append(item);
    }

    /// <summary>Worker: the throttle for <paramref name="room"/>, or null when its subscription has no <c>maxRate</c>.</summary>
    internal SubscriptionThrottle? ThrottleOf(string room) =>
        _throttles is not null && _throttles.TryGetValue(room, out var throttle) ? throttle : null;

    /// <summary>Worker: keeps an event in a subscription's throttle, or lets it through when the throttle is idle.</summary>
    /// <returns>True when it is to be written now.</returns>
    internal bool Hold(SubscriptionThrottle throttle, OutgoingItem item, long now)
    {
        if (_close != CloseMode.None || _done)
            return false;
        if (throttle.TryPassNow(now))
            return Append(item);
        var replaced = throttle.Add(item);
        if (replaced.Message is not null)
            owner.OnConflated(1);
        if (item.IsBounded)
        {
            var removed = replaced.Message is null ? 0 : replaced.Length;
            if (!Account(item.Length - removed, replaced.Message is null ? 1 : 0))
                return false;
        }
        if (!throttle.Scheduled)
        {
            throttle.Scheduled = true;
            worker.Schedule(this, throttle);
        }
        return false;
    }

    /// <summary>Worker: a throttle's release is due: what waited in it joins the queue. False when nothing is to be written.</summary>
    internal bool Release(SubscriptionThrottle throttle, long now)
    {
        throttle.Scheduled = false;
        if (!throttle.Active || _close != CloseMode.None || _done)
            return false;
        // Already counted in the bound while they waited.
        return throttle.ReleaseInto(ref _pending, now) > 0;
    }

    /// <summary>Worker: the subscription to <paramref name="room"/> has <paramref name="maxRate"/> now (0: none); what waited for it is released.</summary>
    internal bool SetRate(string room, double maxRate)
    {
        if (maxRate > 0)
        {
            _throttles ??= new(StringComparer.Ordinal);
            if (_throttles.TryGetValue(room, out var existing))
                existing.SetRate(maxRate);
            else
                _throttles[room] = new SubscriptionThrottle(room, maxRate);
            return false;
        }
        if (_throttles is null || !_throttles.Remove(room, out var throttle))
            return false;
        if (_throttles.Count == 0)
            _throttles = null;
        throttle.Active = false;
        // Those events were delivered before the change: they go before whatever follows it (an `unsubscribed`).
        return !_done && _close == CloseMode.None && throttle.ReleaseInto(ref _pending, 0) > 0;
    }

    /// <summary>
    /// Counts <paramref name="bytes"/> and <paramref name="messages"/> more toward the bound (after the item was queued);
    /// past half of it, conflates; past it, drops everything and closes with 4009. False when it closed.
    /// </summary>
    private bool Account(long bytes, int messages)
    {
        _boundedBytes += bytes;
        _boundedMessages += messages;
        if (_boundedBytes > _conflateAtBytes || _boundedMessages > _conflateAtMessages)
            ConflateUnderLag();
        if (_boundedBytes > limits.MaxQueuedBytes || _boundedMessages > limits.MaxQueuedMessages)
        {
            // One slow client must never grow the server's memory: drop what waits and let it recover.
            var (total, count) = (_boundedBytes, _boundedMessages);
            SetClose(flushQueued: false);
            owner.OnSlowConsumer(total, count);
            return false;
        }
        return true;
    }

    private void ConflateUnderLag()
    {
        var (bytes, messages) = _pending.ConflateLiveEvents();
        _boundedBytes -= bytes;
        _boundedMessages -= messages;
        if (messages > 0)
            owner.OnConflated(messages);
        // Run again only half-way closer to the bound, so a queue of events without keys is not walked on every item.
        _conflateAtBytes = Math.Max(limits.MaxQueuedBytes / 2, _boundedBytes + (limits.MaxQueuedBytes - _boundedBytes) / 2);
        _conflateAtMessages = Math.Max(limits.MaxQueuedMessages / 2, _boundedMessages + (limits.MaxQueuedMessages - _boundedMessages) / 2);
    }

    /// <summary>Worker: the close was requested; the next flush finishes with the close frame.</summary>
    internal void SetClose(bool flushQueued)
    {
        if (!flushQueued)
        {
            _close = CloseMode.Now;
            DropPending();
        }
        else if (_close == CloseMode.None)
        {
            _close = CloseMode.AfterQueued;
        }
    }

    /// <summary>
    /// Worker: writes what waits (up to <see cref="OutputLimits.MaxBytesPerWrite"/>) unless a write is in
    /// flight, then the close frame once nothing is left to write.
    /// </summary>
    internal void Flush(ref FanoutWorker.RoundCounters counters)
    {
        if (_done || _writing)
            return;
        if (_pending.Count == 0)
        {
            if (_close != CloseMode.None && !_closeStarted)
                StartClose();
            return;
        }
        var (taken, size) = Plan();
        byte[]? buffer = null;
        int length = 0, frames = 0;
        ValueTask<bool> write;
        try
        {
            switch (stream.TryBeginDirectWrite(out var pipe))
            {
                case DirectWrite.Begun:
                    try
                    {
                        (length, frames) = FrameInto(pipe.GetSpan(size), taken);
                        pipe.Advance(length);
                    }
                    finally
                    {
                        write = stream.EndDirectWriteAsync();
                    }
                    break;
                case DirectWrite.Unavailable:
                    buffer = ArrayPool<byte>.Shared.Rent(size);
                    (length, frames) = FrameInto(buffer, taken);
                    write = stream.TryWriteFramesAsync(buffer.AsMemory(0, length));
                    break;
                default:
                    write = ValueTask.FromResult(false);
                    break;
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            write = ValueTask.FromException<bool>(ex);
        }
        var events = 0;
        for (var i = 0; i < taken; i++)
        {
            var item = _pending[i];
            if (item.Kind == OutgoingKind.Event)
                events++;
            if (item.Kind != OutgoingKind.Replay)
            {
                _boundedBytes -= item.Length;
                _boundedMessages--;
            }
        }
        counters.Add(events, frames, length, taken);
        _pending.RemoveFirst(taken);
        if (_boundedBytes <= limits.MaxQueuedBytes / 2 && _boundedMessages <= limits.MaxQueuedMessages / 2)
            (_conflateAtBytes, _conflateAtMessages) = (limits.MaxQueuedBytes / 2, limits.MaxQueuedMessages / 2);
        _writing = true;
        if (write.IsCompleted)
            WriteEnded(Outcome(write, buffer));
        else
            _ = AwaitWriteAsync(write, buffer);
    }

    /// <summary>Worker: a write finished.</summary>
    internal void WriteEnded(WriteOutcome outcome)
    {
        _writing = false;
        if (outcome != WriteOutcome.Written)
        {
            // Nothing more can be sent. A failed transport is cut; after the receive side's close frame (the
            // client's close, or the framework's 1002/1007) it is not: aborting could cut that frame off.
            if (outcome == WriteOutcome.Failed)
                owner.Abort();
            Finish();
            return;
        }
        if (_pending.Count > 0 || _close != CloseMode.None)
            worker.MarkDirty(this);
    }

    private async Task AwaitWriteAsync(ValueTask<bool> write, byte[]? buffer)
    {
        var outcome = WriteOutcome.Failed;
        try
        {
            outcome = await write.ConfigureAwait(false) ? WriteOutcome.Written : WriteOutcome.AfterClose;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            // The socket is gone; the worker aborts the transport and the receive loop ends the connection.
        }
        finally
        {
            if (buffer is not null)
                ArrayPool<byte>.Shared.Return(buffer);
        }
        worker.Post(FanoutWorker.WorkItem.WriteDone(this, outcome));
    }

    private static WriteOutcome Outcome(ValueTask<bool> write, byte[]? buffer)
    {
        try
        {
            return write.GetAwaiter().GetResult() ? WriteOutcome.Written : WriteOutcome.AfterClose;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            return WriteOutcome.Failed;
        }
        finally
        {
            if (buffer is not null)
                ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>How many of the oldest waiting items one write takes, and the most bytes their frames can need.</summary>
    private (int Taken, int Size) Plan()
    {
        var taken = 0;
        var size = 0;
        while (taken < _pending.Count)
        {
            // Room for a header of its own and a separator, whichever way it is packed.
            var room = _pending[taken].Length + 11;
            if (taken > 0 && size + room > OutputLimits.MaxBytesPerWrite)
                break;
            size += room;
            taken++;
        }
        return (taken, size);
    }

    /// <summary>
    /// Frames the <paramref name="taken"/> oldest items into <paramref name="span"/>: for a batching client, runs
    /// of messages share a frame up to <see cref="OutputLimits.MaxBatchSize"/>; otherwise one frame each. A
    /// ping is its own frame.
    /// </summary>
    private (int Length, int Frames) FrameInto(Span<byte> span, int taken)
    {
        var at = 0;
        var frames = 0;
        var deflate = owner.Deflate;
        for (var i = 0; i < taken;)
        {
            var item = _pending[i];
            if (item.Kind == OutgoingKind.Ping)
            {
                FrameEncoder.Ping.CopyTo(span[at..]);
                at += FrameEncoder.Ping.Length;
                i++;
            }
            else if (deflate && Deflated(item) is { } deflated)
            {
                // Never smaller than the frame Plan counted: Deflated is null unless compressing made it smaller.
                at += FrameEncoder.WriteTextHeader(span[at..], deflated.Length, compressed: true);
                deflated.CopyTo(span[at..]);
                at += deflated.Length;
                i++;
            }
            else if (!owner.Batch)
            {
                at += FrameEncoder.WriteTextHeader(span[at..], item.Length);
                at += EventFrame.WriteConflated(span[at..], item.Message, item.Conflated);
                i++;
            }
            else
            {
                // A run of messages up to the batch size (one at least, however big), joined by '\n'.
                var end = i + 1;
                var payload = item.Length;
                // An event sent compressed goes in a frame of its own: its compressed bytes are shared by every
                // recipient, where compressing a batch would cost a compression per connection (docs/performance.md).
                while (end < taken && _pending[end] is { Kind: not OutgoingKind.Ping } next && payload + 1 + next.Length <= limits.MaxBatchSize
                    && !(deflate && Deflated(next) is not null))
                {
                    payload += 1 + next.Length;
                    end++;
                }
                at += FrameEncoder.WriteTextHeader(span[at..], payload);
                for (var j = i; j < end; j++)
                {
                    if (j > i)
                        span[at++] = (byte)'\n';
                    var queued = _pending[j];
                    at += EventFrame.WriteConflated(span[at..], queued.Message, queued.Conflated);
                }
                i = end;
            }
            frames++;
        }
        return (at, frames);
    }

    /// <summary>
    /// The event's shared compressed form when it goes compressed: an event (live or replayed) of at least the threshold,
    /// unless conflation adds <c>"conflated"</c> to this connection's copy (rare: those go uncompressed). Null otherwise.
    /// </summary>
    private byte[]? Deflated(in OutgoingItem item) =>
        item is { Event: { } published, Conflated: 0 } && published.Frame.Length >= limits.CompressionThreshold ? published.Deflated : null;

    private void StartClose()
    {
        _closeStarted = true;
        _ = CloseAsync();

        async Task CloseAsync()
        {
            try
            {
                await owner.SendCloseFrameAsync().ConfigureAwait(false);
            }
            finally
            {
                // Nothing follows a close frame (later items are dropped: the close is set).
                _finished.TrySetResult();
            }
        }
    }

    /// <summary>Worker: nothing more will be written.</summary>
    internal void Finish()
    {
        _done = true;
        DropPending();
        _finished.TrySetResult();
    }

    private void DropPending()
    {
        _pending.Clear();
        if (_throttles is not null)
        {
            foreach (var throttle in _throttles.Values)
                throttle.Active = false;
            _throttles = null;
        }
        _boundedBytes = 0;
        _boundedMessages = 0;
    }
}

/// <summary>How a write of a connection's output ended.</summary>
internal enum WriteOutcome : byte
{
    /// <summary>The transport took it.</summary>
    Written,

    /// <summary>Not written: a close frame had gone out from the receive side.</summary>
    AfterClose,

    /// <summary>The transport failed.</summary>
    Failed,
}
