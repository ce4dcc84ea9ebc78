using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Rooms;

namespace MoltBeat.WebSocket.Client;

public sealed partial class MoltBeatWSClient
{
    // A server frame holds at most a batch (64 KiB by default) or one event; this only stops a runaway peer.
    private const int MaxFrameBytes = 16 * 1024 * 1024;

    /// <summary>
    /// Opens one connection and waits for its <c>connected</c> message. The connection is attached (becomes the
    /// client's current one) by the receive loop when <c>connected</c> arrives, before any later message is read.
    /// </summary>
    private async Task<MoltBeatConnectionInfo> OpenAsync(bool isReconnect, CancellationTokenSource session, CancellationToken cancellationToken)
    {
        var sessionToken = session.Token;
        using var timeout = new CancellationTokenSource(Options.ConnectTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, sessionToken, cancellationToken);
        var token = await GetTokenAsync(linked.Token).ConfigureAwait(false);
        lock (_gate)
        {
            if (_session != session)
                throw new OperationCanceledException(sessionToken);
            _lastToken = token;
        }
        var socket = new ClientWebSocket();
        // Our own ping messages are the heartbeat; the server's WebSocket pings are answered by the framework.
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        socket.Options.CollectHttpResponseDetails = true;
        Options.ConfigureWebSocket?.Invoke(socket.Options);
        var connection = new Connection(socket, token, isReconnect, session);
        var receiving = false;
        try
        {
            try
            {
                await socket.ConnectAsync(BuildUri(token), linked.Token).ConfigureAwait(false);
            }
            catch (WebSocketException ex)
            {
                var status = socket.HttpStatusCode;
                throw status != 0
                    ? new MoltBeatConnectionException($"The server refused the WebSocket handshake with HTTP {(int)status} ({status}).", null, null, status, ex)
                    : new MoltBeatConnectionException($"Could not connect to {SafeUrl}: {ex.Message}", null, null, null, ex);
            }
            _ = Task.Run(() => ReceiveLoopAsync(connection), CancellationToken.None);
            receiving = true;
            return await connection.Ready.Task.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            lock (_gate)
            {
                // It may have been attached just as the timeout fired: then the connection stands.
                if (connection.Attached)
                    return connection.Ready.Task.Result;
                connection.Rejected = true;
            }
            connection.Abort("connect failed");
            if (!receiving)
                connection.Dispose(); // else the receive loop disposes it when it ends
            if (ex is OperationCanceledException && timeout.IsCancellationRequested && !sessionToken.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                throw new MoltBeatConnectionException($"Connecting to {SafeUrl} timed out after {Options.ConnectTimeout}.", ex);
            throw;
        }
    }

    private string SafeUrl => Options.Url!.GetLeftPart(UriPartial.Path); // never the query: it may hold a token

    private Uri BuildUri(string? token)
    {
        var builder = new UriBuilder(Options.Url!);
        builder.Scheme = builder.Scheme switch
        {
            "http" => "ws",
            "https" => "wss",
            var s => s,
        };
        var query = new StringBuilder(builder.Query.TrimStart('?'));
        if (query.Length > 0)
            query.Append('&');
        // Batching packs several messages per frame, which the receive loop splits on '\n'.
        query.Append("batch=1");
        if (!string.IsNullOrEmpty(token))
            query.Append("&token=").Append(Uri.EscapeDataString(token));
        builder.Query = query.ToString();
        return builder.Uri;
    }

    private async ValueTask<string?> GetTokenAsync(CancellationToken cancellationToken) =>
        Options.TokenProvider is { } provider ? await provider(cancellationToken).ConfigureAwait(false) : Options.Token;

    /// <summary>Reads frames until the connection closes or breaks, then hands it to <see cref="ConnectionEnded"/>.</summary>
    private async Task ReceiveLoopAsync(Connection connection)
    {
        var socket = connection.Socket;
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        var length = 0;
        int? closeCode = null;
        string? closeReason = null;
        Exception? error = null;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (buffer.Length >= MaxFrameBytes)
                        throw new WebSocketException(WebSocketError.Faulted, $"A server frame exceeded {MaxFrameBytes} bytes.");
                    var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                var result = await socket.ReceiveAsync(buffer.AsMemory(length), connection.Aborted).ConfigureAwait(false);
                Interlocked.Increment(ref connection.FramesReceived);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    closeCode = socket.CloseStatus is { } status ? (int)status : null;
                    closeReason = socket.CloseStatusDescription;
                    break;
                }
                length += result.Count;
                if (!result.EndOfMessage)
                    continue;
                if (result.MessageType == WebSocketMessageType.Text)
                    await HandleFrameAsync(connection, buffer.AsMemory(0, length)).ConfigureAwait(false);
                length = 0;
            }
        }
        catch (OperationCanceledException) when (connection.Aborted.IsCancellationRequested)
        {
            error = new MoltBeatConnectionException($"The connection was aborted: {connection.AbortReason}.");
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException)
        {
            error = connection.AbortReason is { } reason ? new MoltBeatConnectionException($"The connection was aborted: {reason}.", ex) : ex;
        }
        catch (Exception ex)
        {
            // Unforeseen: never leave a connection half alive; drop it and let the reconnect logic decide.
            error = ex;
            connection.Abort("the client failed reading the connection");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        if (closeCode is not null)
            await ReplyToCloseAsync(connection, closeCode.Value).ConfigureAwait(false);
        connection.StopTimers();
        ConnectionEnded(connection, closeCode, closeReason, error);
        connection.Ended.TrySetResult();
        connection.Dispose();
    }

    private async Task ReplyToCloseAsync(Connection connection, int code)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2), _time);
            await connection.SendLock.WaitAsync(timeout.Token).ConfigureAwait(false);
            try
            {
                if (connection.Socket.State == WebSocketState.CloseReceived)
                    await connection.Socket.CloseOutputAsync((WebSocketCloseStatus)code, null, timeout.Token).ConfigureAwait(false);
            }
            finally
            {
                connection.SendLock.Release();
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            // The server is going anyway.
        }
    }

    /// <summary>Splits a frame into its messages (batching separates them with '\n') and handles each in order.</summary>
    private async ValueTask HandleFrameAsync(Connection connection, ReadOnlyMemory<byte> frame)
    {
        while (!frame.IsEmpty)
        {
            var end = frame.Span.IndexOf((byte)'\n');
            var line = end < 0 ? frame : frame[..end];
            frame = end < 0 ? ReadOnlyMemory<byte>.Empty : frame[(end + 1)..];
            if (!line.IsEmpty)
                await HandleMessageAsync(connection, line).ConfigureAwait(false);
        }
    }

    private async ValueTask HandleMessageAsync(Connection connection, ReadOnlyMemory<byte> message)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(message);
        }
        catch (JsonException ex)
        {
            ReportMalformed(ex);
            return;
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type"u8, out var type) || type.ValueKind != JsonValueKind.String)
            {
                ReportMalformed(new InvalidDataException("A server message without a string 'type'."));
                return;
            }
            try
            {
                switch (type.GetString())
                {
                    case MessageTypes.Connected:
                        await OnConnectedAsync(connection, root).ConfigureAwait(false);
                        break;
                    case MessageTypes.Event:
                        await OnEventAsync(connection, root).ConfigureAwait(false);
                        break;
                    case MessageTypes.Subscribed:
                        OnSubscribed(connection, root);
                        break;
                    case MessageTypes.Unsubscribed:
                        OnUnsubscribed(connection, root);
                        break;
                    case MessageTypes.Authenticated:
                        OnAuthenticated(root);
                        break;
                    case MessageTypes.Error:
                        OnServerError(root);
                        break;
                    default:
                        // pong needs nothing (every frame counts for the heartbeat); unknown types are for newer clients.
                        break;
                }
            }
            catch (Exception ex) when (ex is InvalidOperationException or InvalidDataException or FormatException or KeyNotFoundException or JsonException)
            {
                // An ill-typed field: the server and this client disagree; report it and keep the connection.
                ReportMalformed(ex);
            }
        }
    }

    private void ReportMalformed(Exception ex)
    {
        _logger.MalformedMessage(ex);
        PostError(new InvalidDataException("The server sent a message the client cannot read.", ex));
    }

    private static long? GetId(JsonElement root) =>
        root.TryGetProperty("id"u8, out var id) && id.ValueKind == JsonValueKind.Number && id.TryGetInt64(out var value) ? value : null;

    private static string? GetString(JsonElement root, ReadOnlySpan<byte> name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static MoltBeatConnectionInfo ParseConnected(JsonElement root)
    {
        var user = new Dictionary<string, string>(StringComparer.Ordinal);
        if (root.TryGetProperty("user"u8, out var u) && u.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in u.EnumerateObject())
                user[property.Name] = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString()! : property.Value.GetRawText();
        }
        var heartbeat = root.TryGetProperty("heartbeatInterval"u8, out var h) && h.TryGetInt64(out var ms) ? TimeSpan.FromMilliseconds(ms) : TimeSpan.Zero;
        var protocol = root.TryGetProperty("protocol"u8, out var p) && p.TryGetInt32(out var v) ? v : MessageTypes.ProtocolVersion;
        return new MoltBeatConnectionInfo(GetString(root, "clientId"u8) ?? "", user, heartbeat, protocol);
    }

    private static ReceivedEvent ParseEvent(JsonElement root)
    {
        var room = GetString(root, "room"u8);
        IReadOnlyList<string> rooms = room is null ? [] : [room];
        if (root.TryGetProperty("rooms"u8, out var r) && r.ValueKind == JsonValueKind.Array)
            rooms = [.. r.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!)];
        var offsets = new Dictionary<string, long>(StringComparer.Ordinal);
        if (root.TryGetProperty("offsets"u8, out var o) && o.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in o.EnumerateObject())
            {
                if (property.Value.TryGetInt64(out var offset))
                    offsets[property.Name] = offset;
            }
        }
        var data = root.TryGetProperty("data"u8, out var d) ? d.Clone() : default;
        var ts = root.TryGetProperty("ts"u8, out var t) && t.TryGetInt64(out var ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : default;
        return new ReceivedEvent(GetString(root, "event"u8) ?? "", data, room, rooms, offsets, ts);
    }

    /// <summary>
    /// Attaches the connection (under the lock, so nothing of the previous one can interleave), starts its
    /// heartbeat and token refresh, then resubscribes every room, asking to recover from where it stood.
    /// </summary>
    private async ValueTask OnConnectedAsync(Connection connection, JsonElement root)
    {
        var info = ParseConnected(root);
        List<(string Room, StreamPosition? Since)> rooms;
        lock (_gate)
        {
            var wanted = !connection.Rejected && !connection.Attached && _connection is null
                && _session == connection.Session && !connection.Session.IsCancellationRequested
                && (TryTransition(MoltBeatWSClientState.Connecting, MoltBeatWSClientState.Connected)
                    || TryTransition(MoltBeatWSClientState.Reconnecting, MoltBeatWSClientState.Connected));
            if (!wanted)
            {
                rooms = [];
            }
            else
            {
                _connection = connection;
                connection.Attached = true;
                connection.AttachedAt = _time.GetTimestamp();
                _connectionInfo = info;
                // Parents first (see RoomName.Depth): their replays cover the children's, in order.
                rooms = [.. _rooms.Select(r => (r.Key, r.Value.Position)).OrderBy(r => RoomName.Depth(r.Key))];
                var args = new MoltBeatConnectedEventArgs(info, connection.IsReconnect);
                Post(() => Connected?.Invoke(this, args));
                connection.Ready.TrySetResult(info);
            }
        }
        if (!connection.Attached)
        {
            connection.Abort("not wanted any more");
            return;
        }
        _logger.Connected(SafeUrl, info.ClientId);
        StartHeartbeat(connection);
        ScheduleTokenRefresh(connection, TokenExpiry.FromJwt(connection.Token));
        foreach (var (room, since) in rooms)
        {
            try
            {
                await SendRequestAsync(connection, MessageTypes.Subscribe, room, since, null, RequestKind.Resubscribe, CancellationToken.None).ConfigureAwait(false);
            }
            catch (MoltBeatConnectionException)
            {
                return; // the connection is going; the next one resubscribes
            }
        }
    }

    private async ValueTask OnEventAsync(Connection connection, JsonElement root)
    {
        var received = ParseEvent(root);
        // Backpressure: when handlers fall behind by EventBufferCapacity events, stop reading the socket.
        await _eventCredits.WaitAsync(connection.Aborted).ConfigureAwait(false);
        var queued = false;
        lock (_gate)
        {
            if (_connection == connection)
            {
                foreach (var (room, offset) in received.Offsets)
                {
                    if (_rooms.TryGetValue(room, out var state) && state.Position is { } position && offset > position.Offset)
                        state.Position = position with { Offset = offset };
                }
                if (received.Id is { } id && !_dedup.Add(id))
                {
                    _logger.DuplicateDropped(id);
                }
                else
                {
                    queued = _dispatch.Writer.TryWrite(new DispatchItem(received, null));
                }
            }
        }
        if (!queued)
            _eventCredits.Release();
    }

    private void OnSubscribed(Connection connection, JsonElement root)
    {
        var room = GetString(root, "room"u8) ?? throw new InvalidDataException("'subscribed' without 'room'.");
        var epoch = GetString(root, "epoch"u8) ?? "";
        var offset = root.TryGetProperty("offset"u8, out var o) && o.TryGetInt64(out var value) ? value : 0;
        bool? recovered = root.TryGetProperty("recovered"u8, out var r) && r.ValueKind is JsonValueKind.True or JsonValueKind.False ? r.GetBoolean() : null;
        var subscription = new MoltBeatSubscription(room, epoch, offset, recovered);
        PendingRequest? pending;
        lock (_gate)
        {
            pending = TakePendingLocked(GetId(root));
            var current = _connection == connection;
            RoomState? state = null;
            if (current && !_rooms.TryGetValue(room, out state) && pending?.Kind == RequestKind.Awaited)
                _rooms[room] = state = new RoomState();
            // A fire-and-forget or resubscribe reply for a room unsubscribed meanwhile is not re-added: the unsubscribe follows it.
            if (state is not null)
            {
                state.FailedResubscribes = 0;
                // Recovered: the missed events follow this reply and advance the position themselves.
                if (recovered != true || state.Position is not { } kept || kept.Epoch != epoch)
                    state.Position = new StreamPosition(epoch, offset);
            }
            if (current)
                Post(() => Subscribed?.Invoke(this, subscription));
            if (current && recovered == false)
            {
                // The history was lost (e.g. a server restart): event ids start over, so forget the old ones.
                _dedup.Clear();
                var since = pending?.Since;
                _logger.RecoveryFailed(room, since?.Epoch, since?.Offset, epoch, offset);
                var args = new MoltBeatRecoveryFailedEventArgs(room, since, new StreamPosition(epoch, offset));
                Post(() => RecoveryFailed?.Invoke(this, args));
            }
        }
        pending?.Completion.TrySetResult(subscription);
    }

    private void OnUnsubscribed(Connection connection, JsonElement root)
    {
        var room = GetString(root, "room"u8) ?? "";
        PendingRequest? pending;
        lock (_gate)
        {
            pending = TakePendingLocked(GetId(root));
            if (_connection == connection)
                Post(() => Unsubscribed?.Invoke(this, new MoltBeatUnsubscribedEventArgs(room)));
        }
        pending?.Completion.TrySetResult(null);
    }

    private void OnAuthenticated(JsonElement root)
    {
        DateTimeOffset? expiresAt = root.TryGetProperty("expiresAt"u8, out var e) && e.TryGetInt64(out var ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
        PendingRequest? pending;
        lock (_gate)
            pending = TakePendingLocked(GetId(root));
        pending?.Completion.TrySetResult(expiresAt);
    }

    private void OnServerError(JsonElement root)
    {
        var code = GetString(root, "code"u8) ?? ErrorCodes.Internal;
        var text = GetString(root, "message"u8) ?? "";
        PendingRequest? pending;
        lock (_gate)
        {
            pending = TakePendingLocked(GetId(root));
            // A subscription the server refused and never confirmed is not kept for resubscription.
            if (pending is { Type: MessageTypes.Subscribe, Room: { } room } && _rooms.TryGetValue(room, out var state) && state.Position is null)
                _rooms.Remove(room);
        }
        var exception = new MoltBeatRequestException(code, text, pending?.Room);
        if (pending is { Kind: RequestKind.Awaited })
            pending.Completion.TrySetException(exception);
        else
            PostError(exception);
        if (pending is { Kind: RequestKind.Resubscribe, Room: { } failedRoom } && code == ErrorCodes.Internal)
            RetryResubscribeLater(pending.Connection, failedRoom);
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
            lock (_gate)
            {
                if (_connection != connection || !_rooms.TryGetValue(room, out var state))
                    return;
                since = state.Position;
            }
            await SendRequestAsync(connection, MessageTypes.Subscribe, room, since, null, RequestKind.Resubscribe, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or MoltBeatConnectionException)
        {
            // The connection is going; the next one resubscribes.
        }
    }
}
