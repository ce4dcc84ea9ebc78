using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Client;

public sealed partial class MoltBeatWSClient
{
    // A server frame holds at most a batch (64 KiB by default) or one event; this only stops a runaway peer.
    private const int MaxFrameBytes = 16 * 1024 * 1024;

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
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty(WireNames.Type, out var type) || type.ValueKind != JsonValueKind.String)
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
                    case MessageTypes.Occupancy:
                        OnOccupancy(connection, root);
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
        root.TryGetProperty(WireNames.Id, out var id) && id.ValueKind == JsonValueKind.Number && id.TryGetInt64(out var value) ? value : null;

    private static string? GetString(JsonElement root, ReadOnlySpan<byte> name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static ReceivedEvent ParseEvent(JsonElement root)
    {
        var room = GetString(root, WireNames.Room);
        IReadOnlyList<string> rooms = room is null ? [] : [room];
        if (root.TryGetProperty(WireNames.Rooms, out var r) && r.ValueKind == JsonValueKind.Array)
            rooms = [.. r.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!)];
        var offsets = new Dictionary<string, long>(StringComparer.Ordinal);
        if (root.TryGetProperty(WireNames.Offsets, out var o) && o.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in o.EnumerateObject())
            {
                if (property.Value.TryGetInt64(out var offset))
                    offsets[property.Name] = offset;
            }
        }
        var data = root.TryGetProperty(WireNames.Data, out var d) ? d.Clone() : default;
        var ts = root.TryGetProperty(WireNames.Ts, out var t) && t.TryGetInt64(out var ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : default;
        var conflated = root.TryGetProperty(WireNames.Conflated, out var c) && c.ValueKind == JsonValueKind.Number && c.TryGetInt32(out var k) ? k : 0;
        return new ReceivedEvent(GetString(root, WireNames.Event) ?? "", data, room, rooms, offsets, ts)
        {
            Key = GetString(root, WireNames.Key),
            Conflated = conflated,
        };
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
                // Held while a new epoch is replayed (bounded by CatchupTimeout): delivered later, in order.
                if (received.Id is not null && connection.Catchup.Hold(received, out var released))
                    DeliverReleasedLocked(released);
                else
                    queued = AcceptEventLocked(received, credited: true);
            }
        }
        if (!queued)
            _eventCredits.Release();
    }

    /// <summary>Advances the rooms' positions, drops a duplicate, queues the rest for the application; true when queued.</summary>
    private bool AcceptEventLocked(ReceivedEvent received, bool credited)
    {
        // A duplicate (a replay of something already delivered) still tells how far each room got.
        foreach (var (room, offset) in received.Offsets)
        {
            if (_rooms.TryGetValue(room, out var state) && state.Position is { } position && offset > position.Offset)
                state.Position = position with { Offset = offset };
        }
        if (received.Id is { } id && !_dedup.Add(id))
        {
            _logger.DuplicateDropped(id);
            return false;
        }
        return _dispatch.Writer.TryWrite(new DispatchItem(received, null, credited));
    }

    /// <summary>Events a finished catch-up releases, in publication order (they hold no credit: theirs went back when they were held).</summary>
    private void DeliverReleasedLocked(IReadOnlyList<ReceivedEvent> released)
    {
        foreach (var received in released)
            AcceptEventLocked(received, credited: false);
    }

    private void OnAuthenticated(JsonElement root)
    {
        DateTimeOffset? expiresAt = root.TryGetProperty(WireNames.ExpiresAt, out var e) && e.TryGetInt64(out var ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
        PendingRequest? pending;
        lock (_gate)
            pending = TakePendingLocked(GetId(root));
        pending?.Completion.TrySetResult(expiresAt);
    }

    private void OnServerError(JsonElement root)
    {
        var code = GetString(root, WireNames.Code) ?? ErrorCodes.Internal;
        var text = GetString(root, WireNames.Message) ?? "";
        PendingRequest? pending;
        lock (_gate)
        {
            pending = TakePendingLocked(GetId(root));
            // A subscription the server refused and never confirmed is not kept for resubscription.
            if (pending is { Type: MessageTypes.Subscribe, Room: { } room } && _rooms.TryGetValue(room, out var state) && state.Position is null)
                _rooms.Remove(room);
            // A failed catch-up is not waited for: the room's held events go out as they are.
            if (pending is { Kind: RequestKind.Catchup, Room: { } caughtUp })
                ForgetCatchupLocked(pending.Connection == _connection ? _connection : null, caughtUp);
        }
        var exception = new MoltBeatRequestException(code, text, pending?.Room);
        if (pending is { Kind: RequestKind.Awaited })
            pending.Completion.TrySetException(exception);
        else
            PostError(exception);
        if (pending is { Kind: RequestKind.Resubscribe, Room: { } failedRoom } && code == ErrorCodes.Internal)
            RetryResubscribeLater(pending.Connection, failedRoom);
    }
}
