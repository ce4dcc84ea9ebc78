using MoltBeat.WebSocket.Auth;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Rooms;
using MoltBeat.WebSocket.Server.Outgoing;

namespace MoltBeat.WebSocket.Server;

internal sealed partial class ClientConnection
{
    // Room → the Sequence after which every event of that room has been sent to this client (see Replay).
    private readonly SubscribedRooms _subscriptions = new();
    // The subscriptions with a maxRate (their output holds a throttle each); null while there is none.
    private HashSet<string>? _throttled;
    private int _consecutiveBadRequests;
    private int _rateStrikes;

    private async ValueTask HandleMessageAsync(ReadOnlyMemory<byte> message)
    {
        if (!TryTakeRequestToken())
        {
            // Answer the first refusals so the client knows why; past the strikes, stop talking and close.
            if (++_rateStrikes >= _services.Options.RateLimitStrikes)
                RequestClose(CloseCodes.RateLimited, flushQueued: true);
            else
                // Parsed just enough to answer with the request's id, so the client knows which one was refused.
                SendError(ClientRequestParser.Parse(message.Span).Id, ErrorCodes.RateLimited, "too many messages: slow down");
            return;
        }
        _rateStrikes = 0;

        var parsed = ClientRequestParser.Parse(message.Span);
        if (parsed.Request is not { } request)
        {
            SendError(parsed.Id, ErrorCodes.BadRequest, parsed.Error!);
            if (++_consecutiveBadRequests >= _services.Options.MaxConsecutiveBadRequests)
                RequestClose(CloseCodes.PolicyViolation, flushQueued: true);
            return;
        }
        _consecutiveBadRequests = 0;

        try
        {
            if (!IsReady && request.Type != MessageTypes.Auth)
            {
                SendError(request.Id, ErrorCodes.Unauthorized, "authenticate first: send {\"type\":\"auth\",\"token\":\"...\"}");
                return;
            }
            switch (request.Type)
            {
                case MessageTypes.Subscribe:
                    await SubscribeAsync(request).ConfigureAwait(false);
                    break;
                case MessageTypes.Unsubscribe:
                    Unsubscribe(request);
                    break;
                case MessageTypes.Ping:
                    Send(ServerMessages.Pong(request.Id));
                    break;
                case MessageTypes.Auth:
                    if (string.IsNullOrEmpty(request.Token))
                        SendError(request.Id, ErrorCodes.BadRequest, "missing field 'token'");
                    else
                        await AuthenticateAsync(request.Token, request.Id, isRefresh: IsReady).ConfigureAwait(false);
                    break;
                default:
                    SendError(request.Id, ErrorCodes.UnknownType, $"unknown message type '{request.Type}'");
                    break;
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _services.Logger.HandlerFailed(ex, Id, request.Type);
            SendError(request.Id, ErrorCodes.Internal, "the server failed to handle the request");
        }
    }

    private async ValueTask SubscribeAsync(ClientRequest request)
    {
        if (!TryGetRoom(request, out var room))
            return;
        if (!_subscriptions.Contains(room) && _subscriptions.Count >= _services.Options.MaxSubscriptionsPerConnection)
        {
            SendError(request.Id, ErrorCodes.TooManySubscriptions, $"at most {_services.Options.MaxSubscriptionsPerConnection} subscriptions per connection");
            return;
        }
        if (!await MayReadAsync(Info, room).ConfigureAwait(false))
        {
            SendError(request.Id, ErrorCodes.Forbidden, $"not allowed to subscribe to {room}");
            return;
        }
        var replay = new ReplayRequest(request.Since, request.Last ?? 0);
        // `replay` is told whenever the subscribe carried `since` or `last` (even `last:0`), as the protocol says.
        var tellReplay = request.Since is not null || request.Last is not null;
        await _services.Engine.SubscribeAsync(room, replay, result => Attach(room, request, tellReplay, result), _aborted.Token).ConfigureAwait(false);
        if (request.Occupancy == true)
            _services.Occupancy.Watch(room, this);
        else
            _services.Occupancy.Unwatch(room, this);
    }

    /// <summary>
    /// Called by the engine atomically with the room's live deliveries: replies, replays what was asked (missed
    /// since a position, or the last events), then joins the room, so that the first live event follows the last
    /// replayed one. Under the hub's order lock as well, which keeps that order in the worker's lane whatever the engine.
    /// </summary>
    private void Attach(string room, ClientRequest request, bool tellReplay, RecoveryResult result)
    {
        if (result.Recovered is { } recovered)
            _services.Hub.CountRecovery(recovered);
        lock (_services.Hub.Order)
            AttachInOrder(room, request, tellReplay, result);
    }

    private void AttachInOrder(string room, ClientRequest request, bool tellReplay, RecoveryResult result)
    {
        // The latest subscribe's maxRate applies from here on, ahead of its replay in the output's lane.
        if (request.MaxRate is { } maxRate)
        {
            (_throttled ??= new(StringComparer.Ordinal)).Add(room);
            _output.PostRate(room, maxRate);
        }
        else
        {
            ClearRate(room);
        }
        // Joined before the reply is queued, so that a client holding its `subscribed` is counted in the stats. The
        // order lock keeps every live event out of the lane until the reply and the replay are in it.
        if (_services.Hub.Join(room, _output))
            _services.Metrics.Subscriptions.Add(1);
        // Every replayed event of the room is sent from here on (replayed, or skipped as already sent through another
        // room), and every live one after it: the room's mark drops to before the oldest of them.
        var deliveredAfter = _services.Hub.LastDeliveredSequence;
        var replay = new List<PublishedEvent>(result.Replay.Count);
        foreach (var replayed in result.Replay)
        {
            deliveredAfter = Math.Min(deliveredAfter, replayed.Sequence - 1);
            if (!AlreadySent(replayed, room))
                replay.Add(replayed);
        }
        // With maxRate the replay is conflated as live events would be (newest of each key, in its place).
        var conflated = request.MaxRate is null ? null : Conflation.NewestOfEachKey(replay);
        // The reply counts what follows it, so the replay is filtered first.
        Send(ServerMessages.Subscribed(room, request.Id, result.Position, result.Recovered, tellReplay ? (conflated?.Count ?? replay.Count) : null));
        if (conflated is null)
        {
            foreach (var replayed in replay)
                EnqueueReplay(replayed, room, 0);
        }
        else
        {
            foreach (var (replayed, replaced) in conflated)
                EnqueueReplay(replayed, room, replaced);
        }
        // A second subscribe to a room keeps the older, lower mark: those events were sent as well.
        _subscriptions.Set(room, _subscriptions.TryGetValue(room, out var previous) ? Math.Min(previous, deliveredAfter) : deliveredAfter);
    }

    /// <summary>
    /// Whether a replayed event already reached this connection through another of its rooms: each room
    /// remembers the sequence after which all its events were sent, which keeps "each event at most once
    /// per connection" across overlapping replays (e.g. <c>all</c> and <c>analytics</c> after a reconnect).
    /// </summary>
    private bool AlreadySent(PublishedEvent published, string replayedRoom)
    {
        foreach (var (room, deliveredAfter) in _subscriptions)
        {
            if (room != replayedRoom && published.Sequence > deliveredAfter && Array.IndexOf(published.DeliveryRooms!, room) >= 0)
                return true;
        }
        return false;
    }

    private void Unsubscribe(ClientRequest request)
    {
        if (!TryGetRoom(request, out var room))
            return;
        // The reply is queued in the same order as deliveries: every event of the room delivered before it
        // was posted ahead of it, and none after it is for this connection.
        lock (_services.Hub.Order)
        {
            if (_subscriptions.Remove(room) && _services.Hub.Leave(room, _output))
                _services.Metrics.Subscriptions.Add(-1);
            ClearRate(room);
            Send(ServerMessages.Unsubscribed(room, request.Id));
        }
        _services.Occupancy.Unwatch(room, this);
    }

    /// <summary>Drops the subscription's maxRate, if it had one; what waited for it goes before what is posted next (order lock held).</summary>
    private void ClearRate(string room)
    {
        if (_throttled is null || !_throttled.Remove(room))
            return;
        if (_throttled.Count == 0)
            _throttled = null;
        _output.PostRate(room, 0);
    }

    /// <summary>
    /// Removes, by the server's own decision, the subscriptions <paramref name="remove"/> picks, telling the client
    /// each with <c>unsubscribed</c> and <paramref name="reason"/>; in delivery order, as <see cref="Unsubscribe"/>,
    /// so nothing of such a room is sent after its message. Only with <see cref="_requestGate"/> held (the request loop, or an operator's control).
    /// </summary>
    /// <returns>The rooms removed.</returns>
    private List<string> RemoveSubscriptions(Func<string, bool> remove, string reason)
    {
        var removed = _subscriptions.Rooms.Where(remove).ToList();
        if (removed.Count == 0)
            return removed;
        lock (_services.Hub.Order)
        {
            foreach (var room in removed)
            {
                _subscriptions.Remove(room);
                if (_services.Hub.Leave(room, _output))
                    _services.Metrics.Subscriptions.Add(-1);
                ClearRate(room);
                Send(ServerMessages.Unsubscribed(room, null, reason));
            }
        }
        foreach (var room in removed)
            _services.Occupancy.Unwatch(room, this);
        return removed;
    }

    private bool TryGetRoom(ClientRequest request, out string room)
    {
        room = request.Room!;
        if (request.Room is null)
        {
            SendError(request.Id, ErrorCodes.BadRequest, "missing field 'room'");
            return false;
        }
        if (!RoomName.IsValid(request.Room))
        {
            SendError(request.Id, ErrorCodes.InvalidRoom, $"invalid room: {RoomName.Rule}");
            return false;
        }
        return true;
    }

    /// <summary>The token's rooms claim first (<see cref="RoomPermissions"/>), then the application's hook.</summary>
    private async ValueTask<bool> MayReadAsync(WSClientInfo client, string room)
    {
        if (!await RoomAuthorization.AuthorizeSubscription(client, room).ConfigureAwait(false))
            return false;
        return _services.Options.AuthorizeSubscription is not { } authorize || await authorize(client, room, _aborted.Token).ConfigureAwait(false);
    }

    /// <summary>
    /// After a refresh: the subscriptions the new token no longer allows are removed (told with
    /// <c>unsubscribed</c>, reason <c>forbidden</c>), all before the reply to the refresh, so nothing of such a
    /// room follows that reply.
    /// </summary>
    private async ValueTask RecheckSubscriptionsAsync()
    {
        var refused = new HashSet<string>(StringComparer.Ordinal);
        foreach (var room in _subscriptions.Rooms.ToList())
        {
            if (!await MayReadAsync(Info, room).ConfigureAwait(false))
                refused.Add(room);
        }
        if (RemoveSubscriptions(refused.Contains, UnsubscribeReasons.Forbidden) is { Count: > 0 } removed)
            _services.Logger.SubscriptionsRevokedOnRefresh(Id, removed.Count);
    }

    private async ValueTask AuthenticateAsync(string token, long? id, bool isRefresh)
    {
        var authenticate = _services.Options.AuthenticateClient;
        if (authenticate is null)
        {
            // Without authentication there is nothing to refresh; say so rather than pretend.
            Send(ServerMessages.Authenticated(id, null));
            return;
        }
        WSUser? user;
        try
        {
            user = await authenticate(token, _aborted.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The authenticator failed (its database is down, say): a server error, not a bad token, so the
            // client is told 1011 and reconnects with backoff instead of throwing its token away.
            _services.Logger.AuthenticatorFailed(ex, Id);
            if (isRefresh)
                SendError(id, ErrorCodes.Internal, "authentication failed on the server");
            RequestClose(CloseCodes.InternalError, flushQueued: isRefresh);
            return;
        }
        var now = _services.Time.GetUtcNow();
        var valid = user is not null && (user.ExpiresAt is not { } exp || exp > now);
        if (valid && isRefresh && user!.UserId != Info.User?.UserId)
            valid = false; // a refresh may extend a session, never switch it to another user
        var revoked = valid && await IsRevokedAsync(user!).ConfigureAwait(false); // ClientConnection.Revocation.cs
        if (!valid || revoked)
        {
            _services.Logger.AuthenticationFailed(Id, user is null ? "token refused" : revoked ? "token revoked" : "token expired or for another user");
            if (isRefresh)
                SendError(id, ErrorCodes.Unauthorized, "token refused");
            RequestClose(CloseCodes.Unauthorized, flushQueued: isRefresh);
            return;
        }
        if (isRefresh)
        {
            Info = Info with { User = user };
            ExpiresAt = user!.ExpiresAt;
            await RecheckSubscriptionsAsync().ConfigureAwait(false);
            Send(ServerMessages.Authenticated(id, user.ExpiresAt));
        }
        else
        {
            BecomeReady(user);
        }
    }

    private void SendError(long? id, string code, string message)
    {
        _services.Metrics.Errors.Add(1, new KeyValuePair<string, object?>("code", code));
        Send(ServerMessages.Error(id, code, message));
    }
}
