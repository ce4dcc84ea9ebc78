using System.Text.Json;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Client;

public sealed partial class MoltBeatWSClient
{
    private void OnSubscribed(Connection connection, JsonElement root)
    {
        var room = GetString(root, WireNames.Room) ?? throw new InvalidDataException("'subscribed' without 'room'.");
        var epoch = GetString(root, WireNames.Epoch) ?? "";
        var offset = root.TryGetProperty(WireNames.Offset, out var o) && o.TryGetInt64(out var value) ? value : 0;
        bool? recovered = root.TryGetProperty(WireNames.Recovered, out var r) && r.ValueKind is JsonValueKind.True or JsonValueKind.False ? r.GetBoolean() : null;
        int? replay = root.TryGetProperty(WireNames.Replay, out var n) && n.TryGetInt32(out var count) ? count : null;
        var subscription = new MoltBeatSubscription(room, epoch, offset, recovered) { Replay = replay };
        PendingRequest? pending;
        SubscribeOptions? catchUp = null;
        lock (_gate)
        {
            pending = TakePendingLocked(GetId(root));
            var current = _connection == connection;
            if (pending?.Kind == RequestKind.Catchup)
            {
                if (current)
                    OnCatchupReplyLocked(connection, room, recovered == true, offset, replay);
                pending.Completion.TrySetResult(subscription);
                return;
            }
            RoomState? state = null;
            if (current && !_rooms.TryGetValue(room, out state) && pending?.Kind == RequestKind.Awaited)
                _rooms[room] = state = new RoomState();
            if (state is not null && pending?.Kind is RequestKind.Awaited or RequestKind.FireAndForget)
            {
                state.Options = pending.Options; // the application's latest choice for this room
                if (!state.Options.Occupancy)
                    state.Subscribers = null;
            }
            var known = state?.Position?.Epoch;
            // A fire-and-forget or resubscribe reply for a room unsubscribed meanwhile is not re-added: the unsubscribe follows it.
            if (state is not null)
            {
                state.FailedResubscribes = 0;
                // Recovered: the missed events follow this reply and advance the position themselves, from where the
                // client stood or, on a first subscribe with SubscribeOptions.Since, from that position (were it set to
                // the reply's offset, a drop before the replayed events are read would resubscribe past them).
                var from = state.Position ?? (recovered == true ? pending?.Since : null);
                if (recovered != true || from is not { } kept || kept.Epoch != epoch)
                    state.Position = new StreamPosition(epoch, offset);
                else
                    state.Position = kept;
            }
            var epochChanged = known is not null && known != epoch;
            if (current && epochChanged && !connection.DedupClearedForNewEpoch)
            {
                // The server lost its history (e.g. it restarted): event ids start over, so forget the old ones.
                _dedup.Clear();
                connection.DedupClearedForNewEpoch = true;
            }
            if (current)
                Post(() => Subscribed?.Invoke(this, subscription));
            if (current && recovered == false)
            {
                var since = pending?.Since;
                _logger.RecoveryFailed(room, since?.Epoch, since?.Offset, epoch, offset);
                var args = new MoltBeatRecoveryFailedEventArgs(room, since, new StreamPosition(epoch, offset));
                Post(() => RecoveryFailed?.Invoke(this, args));
                // Everything in a new epoch was published while the client was away: replay it from its start.
                if (epochChanged && offset > 0 && Options.RecoverNewEpoch && state is not null)
                {
                    StartCatchupLocked(connection, room, state, epoch);
                    // The room's maxRate and occupancy again (a subscribe without them turns them off), not its last.
                    catchUp = state.Options with { Last = 0, Since = null };
                }
            }
        }
        pending?.Completion.TrySetResult(subscription);
        if (catchUp is not null)
            _ = ObserveAsync(SendRequestAsync(connection, MessageTypes.Subscribe, room, new StreamPosition(epoch, 0), null, RequestKind.Catchup, CancellationToken.None, catchUp), ignoreConnectionLoss: true);
    }

    private void StartCatchupLocked(Connection connection, string room, RoomState state, string epoch)
    {
        state.Position = new StreamPosition(epoch, 0);
        if (!connection.Catchup.Start(room))
            return;
        _logger.CatchupStarted(room, epoch);
        // One bound for every catch-up running on the connection, as the JS client has.
        connection.SetCatchupTimeout(_time.CreateTimer(static s =>
        {
            var (client, connection) = ((MoltBeatWSClient, Connection))s!;
            client.OnCatchupTimeout(connection);
        }, (this, connection), Options.CatchupTimeout, Timeout.InfiniteTimeSpan));
    }

    private void OnCatchupReplyLocked(Connection connection, string room, bool recovered, long offset, int? replay)
    {
        if (!recovered && _rooms.TryGetValue(room, out var state) && state.Position is { } position && offset > position.Offset)
            state.Position = position with { Offset = offset };
        EndCatchupLocked(connection, connection.Catchup.Replied(room, recovered, offset, replay));
    }

    private void OnCatchupTimeout(Connection connection)
    {
        lock (_gate)
        {
            if (_connection != connection || !connection.Catchup.IsActive)
                return;
            _logger.CatchupTimedOut(Options.CatchupTimeout);
            EndCatchupLocked(connection, connection.Catchup.EndAll());
        }
    }

    /// <summary>Delivers what a catch-up step released; stops the timeout once no catch-up is left.</summary>
    private void EndCatchupLocked(Connection connection, IReadOnlyList<ReceivedEvent> released)
    {
        if (!connection.Catchup.IsActive)
            connection.SetCatchupTimeout(null);
        DeliverReleasedLocked(released);
    }

    /// <summary>A room that is no longer subscribed (unsubscribed, refused, its catch-up failed) is not waited for.</summary>
    private void ForgetCatchupLocked(Connection? connection, string room)
    {
        if (connection is not null && connection.Catchup.IsActive)
            EndCatchupLocked(connection, connection.Catchup.End(room));
    }

    private void OnUnsubscribed(Connection connection, JsonElement root)
    {
        var room = GetString(root, WireNames.Room) ?? "";
        var reason = GetString(root, WireNames.Reason);
        PendingRequest? pending;
        lock (_gate)
        {
            pending = TakePendingLocked(GetId(root));
            if (_connection == connection)
            {
                if (reason is not null)
                {
                    // Removed by the server (rights narrowed, or revoked): resubscribing would only be refused again.
                    _rooms.Remove(room);
                    ForgetCatchupLocked(connection, room);
                    _logger.RemovedByServer(room, reason);
                }
                Post(() => Unsubscribed?.Invoke(this, new MoltBeatUnsubscribedEventArgs(room, reason)));
            }
        }
        pending?.Completion.TrySetResult(null);
    }

    /// <summary>
    /// A room's subscriber count, for a subscription that asked it (<see cref="SubscribeOptions.Occupancy"/>). A count that
    /// crosses an unsubscribe, or a subscribe that stopped asking, is dropped: the application no longer watches it.
    /// </summary>
    private void OnOccupancy(Connection connection, JsonElement root)
    {
        var room = GetString(root, WireNames.Room) ?? throw new InvalidDataException("'occupancy' without 'room'.");
        if (!root.TryGetProperty(WireNames.Subscribers, out var s) || s.ValueKind != JsonValueKind.Number || !s.TryGetInt64(out var subscribers))
            throw new InvalidDataException("'occupancy' without a whole number of 'subscribers'.");
        lock (_gate)
        {
            if (_connection != connection || !_rooms.TryGetValue(room, out var state) || !state.Options.Occupancy)
                return;
            state.Subscribers = subscribers;
            var args = new MoltBeatOccupancyEventArgs(room, subscribers);
            Post(() => Occupancy?.Invoke(this, args));
        }
    }

    /// <summary>
    /// A resubscription the server failed on its side (<c>internal</c>: its engine briefly unavailable, say, in a
    /// reconnect storm) is sent again on the same connection after the reconnect backoff. Left alone, the client
    /// would stay connected without that room until the next reconnect and miss its events silently. Refusals
    /// (<c>forbidden</c>, <c>invalid_room</c>, …) are final and not retried.
    /// </summary>
    private void RetryResubscribeLater(Connection connection, string room)
    {
        TimeSpan? delay;
        lock (_gate)
        {
            if (_connection != connection || !_rooms.TryGetValue(room, out var state))
                return;
            delay = _retryPolicy.NextRetryDelay(new MoltBeatRetryContext(state.FailedResubscribes++, TimeSpan.Zero, null));
        }
        if (delay is { } wait)
            _ = ResubscribeAfterAsync(connection, room, wait);
    }

    private async Task ResubscribeAfterAsync(Connection connection, string room, TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, _time, connection.Aborted).ConfigureAwait(false);
            StreamPosition? since;
            SubscribeOptions options;
            lock (_gate)
            {
                if (_connection != connection || !_rooms.TryGetValue(room, out var state))
                    return;
                (since, options) = (state.Position, state.Options);
            }
            await SendRequestAsync(connection, MessageTypes.Subscribe, room, since, null, RequestKind.Resubscribe, CancellationToken.None, options).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or MoltBeatConnectionException)
        {
            // The connection is going; the next one resubscribes.
        }
    }

    /// <summary>
    /// Subscribes to a room and completes when the server confirmed it. The room is then resubscribed after every
    /// reconnect, recovering the events missed meanwhile. Subscribing twice is not an error.
    /// </summary>
    /// <returns>The room's epoch and offset when the subscription began.</returns>
    /// <exception cref="MoltBeatRequestException">The server refused it: <c>forbidden</c>, <c>invalid_room</c>, <c>too_many_subscriptions</c>, <c>rate_limited</c>…</exception>
    /// <exception cref="MoltBeatConnectionException">The connection was lost before the reply; the room is not subscribed.</exception>
    /// <exception cref="InvalidOperationException">The client is not connected; <see cref="Subscribe(string)"/> queues a room for the next connection instead.</exception>
    public Task<MoltBeatSubscription> SubscribeAsync(string room, CancellationToken cancellationToken = default) =>
        SubscribeAsync(room, SubscribeOptions.Live, cancellationToken);

    /// <summary>
    /// Subscribes to a room with options (protocol 1.1) and completes when the server confirmed it: open on the room's
    /// last events (<see cref="SubscribeOptions.Last"/>), or from a position read before loading state
    /// (<see cref="SubscribeOptions.Since"/>, the gap-free snapshot); at a bounded rate with conflated updates
    /// (<see cref="SubscribeOptions.MaxRate"/>), with the room's subscriber count (<see cref="SubscribeOptions.Occupancy"/>).
    /// After a reconnect the client recovers from where it stood, as for any subscription, asking the same
    /// <see cref="SubscribeOptions.Last"/> again (the server sends those only when the recovery fails), and the same
    /// <see cref="SubscribeOptions.MaxRate"/> and <see cref="SubscribeOptions.Occupancy"/>. Subscribing to the room again
    /// replaces its options with the new ones.
    /// </summary>
    /// <returns>
    /// The room's epoch and offset when the subscription began, whether <see cref="SubscribeOptions.Since"/> recovered,
    /// and how many replayed events follow the reply (<see cref="MoltBeatSubscription.Replay"/>), raised through
    /// <see cref="Event"/> before any live one.
    /// </returns>
    /// <exception cref="ArgumentOutOfRangeException">
    /// <see cref="SubscribeOptions.Last"/> is outside 0..<see cref="ProtocolLimits.MaxLast"/>, or <see cref="SubscribeOptions.MaxRate"/>
    /// is not a finite number above 0 and at most <see cref="ProtocolLimits.MaxRate"/>; nothing was sent.
    /// </exception>
    /// <exception cref="MoltBeatRequestException">The server refused it: <c>forbidden</c>, <c>invalid_room</c>, <c>too_many_subscriptions</c>, <c>rate_limited</c>…</exception>
    /// <exception cref="MoltBeatConnectionException">The connection was lost before the reply; the room is not subscribed.</exception>
    /// <exception cref="InvalidOperationException">The client is not connected.</exception>
    public async Task<MoltBeatSubscription> SubscribeAsync(string room, SubscribeOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(room);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var reply = await SendRequestAsync(RequireConnection(), MessageTypes.Subscribe, room, options.Since, null, RequestKind.Awaited, cancellationToken, options).ConfigureAwait(false);
        return (MoltBeatSubscription)reply!;
    }

    /// <summary>
    /// Unsubscribes from a room and completes when the server confirmed it (also when it was not subscribed). The
    /// room is forgotten at once, so it is not resubscribed after a reconnect; when not connected, or when the
    /// connection is lost before the reply, there is nothing more to do and this completes without error.
    /// </summary>
    /// <exception cref="MoltBeatRequestException">The server refused it (e.g. <c>invalid_room</c>).</exception>
    public async Task UnsubscribeAsync(string room, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(room);
        Connection? connection;
        lock (_gate)
        {
            _rooms.Remove(room);
            connection = _connection;
            ForgetCatchupLocked(connection, room);
        }
        if (connection is null)
            return;
        try
        {
            await SendRequestAsync(connection, MessageTypes.Unsubscribe, room, null, null, RequestKind.Awaited, cancellationToken).ConfigureAwait(false);
        }
        catch (MoltBeatConnectionException)
        {
            // A lost connection holds no subscription, and the next one will not make it.
        }
    }

    /// <summary>
    /// Subscribes to a room without waiting (the seed's <c>subscribe(room): void</c>): at once when connected,
    /// else as soon as the client (re)connects. A refusal by the server is raised through <see cref="Error"/>;
    /// the confirmation through <see cref="Subscribed"/>.
    /// </summary>
    public void Subscribe(string room) => Subscribe(room, SubscribeOptions.Live);

    /// <summary>
    /// Subscribes to a room with options without waiting (the seed's <c>subscribe(room, options)</c>): at once when
    /// connected, else as soon as the client (re)connects, and after every reconnect, with the same
    /// <see cref="SubscribeOptions.MaxRate"/>, <see cref="SubscribeOptions.Occupancy"/> and <see cref="SubscribeOptions.Last"/>.
    /// A refusal by the server is raised through <see cref="Error"/>; the confirmation through <see cref="Subscribed"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (see <see cref="SubscribeAsync(string, SubscribeOptions, CancellationToken)"/>); nothing was sent.</exception>
    /// <exception cref="ArgumentException">
    /// <see cref="SubscribeOptions.Since"/> is set: a subscription from a position needs the reply that says whether it
    /// recovered, so it is <see cref="SubscribeAsync(string, SubscribeOptions, CancellationToken)"/>'s.
    /// </exception>
    public void Subscribe(string room, SubscribeOptions options)
    {
        ArgumentNullException.ThrowIfNull(room);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Since is not null)
            throw new ArgumentException("Since needs the reply that tells whether it recovered: use SubscribeAsync.", nameof(options));
        options.Validate();
        Connection? connection;
        lock (_gate)
        {
            if (!_rooms.TryGetValue(room, out var state))
                _rooms[room] = state = new RoomState();
            connection = _connection;
            // Not connected: the next connection subscribes with these (connected, the reply records them).
            if (connection is null)
                state.Options = options;
        }
        if (connection is not null)
            _ = ObserveAsync(SendRequestAsync(connection, MessageTypes.Subscribe, room, null, null, RequestKind.FireAndForget, CancellationToken.None, options), ignoreConnectionLoss: true);
    }

    /// <summary>Unsubscribes from a room without waiting (the seed's <c>unsubscribe(room): void</c>); a failure is raised through <see cref="Error"/>.</summary>
    public void Unsubscribe(string room)
    {
        ArgumentNullException.ThrowIfNull(room);
        Connection? connection;
        lock (_gate)
        {
            _rooms.Remove(room);
            connection = _connection;
            ForgetCatchupLocked(connection, room);
        }
        if (connection is not null)
            _ = ObserveAsync(SendRequestAsync(connection, MessageTypes.Unsubscribe, room, null, null, RequestKind.FireAndForget, CancellationToken.None), ignoreConnectionLoss: true);
    }

    /// <summary>
    /// Where the client stands in a room: the epoch of its last <c>subscribed</c> reply and the offset of the last
    /// event seen there. A reconnect recovers from it. Null when not subscribed or not confirmed yet.
    /// </summary>
    public StreamPosition? GetPosition(string room)
    {
        lock (_gate)
            return _rooms.TryGetValue(room, out var state) ? state.Position : null;
    }

    /// <summary>
    /// The latest subscriber count of a room subscribed with <see cref="SubscribeOptions.Occupancy"/> (what
    /// <see cref="Occupancy"/> last raised), for a view drawn later than the event, e.g. on a timer. Null when the room is
    /// not subscribed so, or no count came yet. Kept while reconnecting (the server sends a fresh count after the
    /// resubscription); forgotten on unsubscribe, and when the server removed the subscription.
    /// </summary>
    public long? GetOccupancy(string room)
    {
        lock (_gate)
            return _rooms.TryGetValue(room, out var state) ? state.Subscribers : null;
    }

    /// <summary>The rooms the client is subscribed to (or will subscribe to when it connects).</summary>
    public IReadOnlyCollection<string> Subscriptions
    {
        get
        {
            lock (_gate)
                return [.. _rooms.Keys];
        }
    }
}
