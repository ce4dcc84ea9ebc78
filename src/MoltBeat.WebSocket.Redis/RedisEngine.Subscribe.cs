using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Rooms;
using StackExchange.Redis;
using StreamPosition = MoltBeat.WebSocket.Protocol.StreamPosition;

namespace MoltBeat.WebSocket.Redis;

/// <summary>
/// Subscribing on this node: a subscribe reads the room (its replay, when recovering) from Redis together
/// with the <c>all</c> offset at that instant, then attaches exactly between two deliveries of the loop
/// (<c>RedisEngine.Delivery.cs</c>): events up to that offset are in the replay, events after it arrive live.
/// </summary>
/// <remarks>
/// Every room event is recorded in <c>all</c>, so its offset there is a clock for the whole deployment.
/// If the loop is already past the read, the subscribe reads again while the loop waits; if the loop is
/// not there yet, the loop itself attaches when it gets there (<c>ReadStanding</c>). Events this node
/// will never receive (lost while its subscription was down) are settled by a sync marker published
/// through the same channel.
/// </remarks>
public sealed partial class RedisEngine
{
    private const int MaxSubscribeAttempts = 5;

    /// <inheritdoc />
    public async ValueTask SubscribeAsync(string room, ReplayRequest replay, Action<RecoveryResult> attach, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(attach);
        ArgumentNullException.ThrowIfNull(replay);
        RoomName.EnsureValid(room);
        for (var attempt = 1; ; attempt++)
        {
            var sharedRead = _sharedReads.GetOrStart(room, replay, () => ReadAsync(room, replay));
            ReadResult read;
            try
            {
                read = await sharedRead.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _sharedReads.Forget(room, replay, sharedRead);
                throw;
            }
            PendingAttach? pending = null;
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var state = Classify(read);
                if (state == ReadStanding.Behind && read.AllEpoch == _epoch
                    && _recent.TryCatchUp(room, read.Result, replay.Last, read.AllOffset, _delivered, out var caughtUp))
                {
                    // This node delivered past the read, and still holds what it delivered since.
                    attach(caughtUp);
                    return;
                }
                if (state == ReadStanding.Behind)
                {
                    _sharedReads.Forget(room, replay, sharedRead);
                    // This node delivered past the read: read again while the loop waits, so that nothing
                    // is delivered between this read and the attach.
                    read = await ReadAsync(room, replay).ConfigureAwait(false);
                    state = Classify(read);
                }
                if (state == ReadStanding.Ready)
                {
                    attach(read.Result);
                    return;
                }
                if (state == ReadStanding.Pending)
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

    // Gate held.
    private ReadStanding Classify(ReadResult read)
    {
        if (read.AllEpoch == _epoch)
            return read.AllOffset == _delivered ? ReadStanding.Ready : read.AllOffset > _delivered ? ReadStanding.Pending : ReadStanding.Behind;
        if (_retiredEpochs.Contains(read.AllEpoch))
            return ReadStanding.Behind; // read from a Redis state that is gone since
        if (read.AllOffset == 0)
        {
            // Nothing was published in this epoch yet (e.g. Redis came back empty): start it here.
            SwitchEpoch(read.AllEpoch, 0);
            return ReadStanding.Ready;
        }
        return ReadStanding.Pending;
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
            var (epoch, offset) = DeliveredPosition();
            await EvaluateAsync(RedisScripts.Sync, [_allMeta, _keys.Generation], [_keys.EventsName, NewEpoch(), _idleMs, epoch, offset], "sync").ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is EngineUnavailableException or RedisException)
        {
            _logger.SyncFailed(ex);
            return false;
        }
    }

    private async Task<ReadResult> ReadAsync(string room, ReplayRequest replay)
    {
        var since = replay.Since;
        RedisKey[] keys = [_keys.Meta(room), _keys.History(room), _allMeta, _keys.Generation];
        var (deliveredEpoch, deliveredOffset) = DeliveredPosition();
        RedisValue[] args =
        [
            NewEpoch(),
            since is { } s ? s.Epoch : "",
            since is { } p ? p.Offset : 0,
            _maxCount,
            _maxAgeMs,
            _idleMs,
            replay.Last,
            deliveredEpoch,
            deliveredOffset,
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

    /// <summary>Where a subscribe's read stands against what the loop has delivered.</summary>
    private enum ReadStanding
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
