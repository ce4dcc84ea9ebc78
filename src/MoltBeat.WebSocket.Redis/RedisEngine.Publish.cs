using System.Threading.Channels;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Rooms;
using StackExchange.Redis;

namespace MoltBeat.WebSocket.Redis;

/// <summary>
/// Publishing: the publishes of this node go through one queue, and those that wait there together go to Redis in one
/// script call (<see cref="RedisScripts.Publish"/>), up to <see cref="MaxBatch"/> at a time with up to
/// <see cref="MaxCallsInFlight"/> calls outstanding. One publisher awaiting each publish sends them one by one as
/// before; many at once (HTTP requests, a backend's concurrent calls) share round trips, script calls and, on every
/// node, channel messages. The queue is taken in order by one loop and the calls go out on one connection in that
/// order, so a node's publishes are recorded in the order they were made, as without batching.
/// </summary>
public sealed partial class RedisEngine
{
    /// <summary>
    /// At most this many events per script call: a call of 64 one-room events keeps Redis busy for about half a
    /// millisecond, which other clients of the same Redis wait behind.
    /// </summary>
    internal const int MaxBatch = 64;

    /// <summary>
    /// Script calls outstanding at once. One would make every batch wait a whole round trip for the previous one; with
    /// a few, what arrives meanwhile forms the next batch while they are on their way.
    /// </summary>
    internal const int MaxCallsInFlight = 8;

    private readonly Channel<PendingPublish> _publishes = Channel.CreateUnbounded<PendingPublish>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SemaphoreSlim _publishCalls = new(MaxCallsInFlight, MaxCallsInFlight);
    private Task _publishLoop = Task.CompletedTask;

    /// <inheritdoc />
    /// <remarks>
    /// With an idempotency key, the script first looks for <c>{prefix}:i:&lt;key&gt;</c>: when it is there (a publish of
    /// that key within <see cref="RedisEngineOptions.IdempotencyWindow"/>, on any node) it returns the message kept in it and
    /// publishes nothing; otherwise it publishes and keeps the message there, expiring after the window.
    /// </remarks>
    public ValueTask<PublishedEvent> PublishAsync(PublishRequest request, CancellationToken cancellationToken)
    {
        try
        {
            return new ValueTask<PublishedEvent>(Enqueue(request, cancellationToken).Completion.Task);
        }
        catch (Exception ex)
        {
            // In the task, as from an async method: a fire-and-forget caller observes every failure the same way.
            return ValueTask.FromException<PublishedEvent>(ex);
        }
    }

    private PendingPublish Enqueue(PublishRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var rooms = request.DeliveryRooms;
        foreach (var room in rooms)
        {
            // The script writes room names into the frame's JSON unescaped; valid names never need escaping.
            if (!RoomName.IsValid(room))
                throw new ArgumentException($"Invalid room '{room}'.", nameof(request));
        }
        cancellationToken.ThrowIfCancellationRequested();
        // Fails at once while Redis is unreachable, as every publish did before it was queued: nothing waits for Redis.
        ConnectedRedis("publish");
        // The frame without offsets, minus its closing brace; the script appends the offsets object,
        // which gives exactly the bytes EventFrame.Build would write with them.
        var head = EventFrame.Build(request.Rooms, request.EventName, request.Data.Span, request.TimestampMs, request.Key, offsets: null);
        var pending = new PendingPublish(rooms, request.IdempotencyKey, head, request.TraceParent);
        ObjectDisposedException.ThrowIf(!_publishes.Writer.TryWrite(pending), this);
        return pending;
    }

    private void StartPublishing() => _publishLoop = Task.Run(() => SendPublishesAsync(_stopping.Token), CancellationToken.None);

    /// <summary>Takes the queue in order: whatever waits when a call may go out is one batch.</summary>
    private async Task SendPublishesAsync(CancellationToken stopping)
    {
        var reader = _publishes.Reader;
        try
        {
            while (await reader.WaitToReadAsync(stopping).ConfigureAwait(false))
            {
                await _publishCalls.WaitAsync(stopping).ConfigureAwait(false);
                var batch = new List<PendingPublish>();
                while (batch.Count < MaxBatch && reader.TryRead(out var pending))
                    batch.Add(pending);
                // Started here, in queue order; completed by the call's own continuation.
                _ = CallAsync(batch);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping: what is still queued fails below.
        }
        while (reader.TryRead(out var left))
            left.Completion.TrySetException(new ObjectDisposedException(nameof(RedisEngine), "The engine stopped before the publish was sent."));
    }

    private async Task CallAsync(List<PendingPublish> batch)
    {
        try
        {
            var (keys, args) = ScriptArguments(batch);
            var results = (RedisResult[])(await EvaluateAsync(RedisScripts.Publish, keys, args, "publish").ConfigureAwait(false))!;
            for (var i = 0; i < batch.Count; i++)
                Complete(batch[i], results[2 * i], (long)results[2 * i + 1]);
        }
        catch (Exception ex)
        {
            foreach (var pending in batch)
                pending.Completion.TrySetException(ex);
        }
        finally
        {
            _publishCalls.Release();
        }
    }

    private static void Complete(PendingPublish pending, RedisResult message, long outcome)
    {
        switch (outcome)
        {
            case 0:
                pending.Completion.TrySetResult(RedisMessage.ParseEvent((byte[])message!, pending.Rooms).Event);
                break;
            default:
                // A repeat: the first publish's message, with its own rooms (the repeat's are not compared).
                var first = RedisMessage.ParseEvent((byte[])message!).Event;
                pending.Completion.TrySetResult(new PublishedEvent(first.Frame, first.DeliveryRooms, first.Offsets) { Duplicate = true });
                break;
        }
    }

    /// <summary>The script's KEYS and ARGV for <paramref name="batch"/> (the layout is <see cref="RedisScripts.Publish"/>'s).</summary>
    private (RedisKey[] Keys, RedisValue[] Args) ScriptArguments(List<PendingPublish> batch)
    {
        var keyCount = 0;
        foreach (var pending in batch)
            keyCount += 2 * pending.Rooms.Length + (pending.IdempotencyKey is null ? 0 : 1);
        var keys = new RedisKey[2 + keyCount];
        var args = new RedisValue[9 + 5 * batch.Count];
        keys[0] = _keys.Generation;
        keys[1] = _allMeta;
        args[0] = _keys.EventsName;
        args[1] = NewEpoch();
        args[2] = _maxCount;
        args[3] = _maxAgeMs;
        args[4] = _idleMs;
        args[5] = _idempotencyMs;
        args[6] = batch.Count;
        (args[7], args[8]) = DeliveredPosition();
        int k = 2, a = 9;
        foreach (var pending in batch)
        {
            foreach (var room in pending.Rooms)
            {
                keys[k++] = _keys.Meta(room);
                keys[k++] = _keys.History(room);
            }
            if (pending.IdempotencyKey is { } idempotencyKey)
                keys[k++] = _keys.Idempotency(idempotencyKey);
            args[a++] = pending.Rooms.Length;
            args[a++] = pending.IdempotencyKey is null ? 0 : 1;
            args[a++] = string.Join(',', pending.Rooms);
            args[a++] = pending.Head.AsMemory(0, pending.Head.Length - 1);
            args[a++] = pending.TraceParent ?? "";
        }
        return (keys, args);
    }

    private async Task StopPublishingAsync()
    {
        _publishes.Writer.TryComplete();
        try
        {
            await _publishLoop.WaitAsync(_options.OperationTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Its calls end with the multiplexer.
        }
    }

    /// <summary>A publish waiting for its script call.</summary>
    private sealed record PendingPublish(string[] Rooms, string? IdempotencyKey, byte[] Head, string? TraceParent)
    {
        public TaskCompletionSource<PublishedEvent> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
