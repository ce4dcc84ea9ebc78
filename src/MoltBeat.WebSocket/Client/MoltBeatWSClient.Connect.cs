using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Rooms;

namespace MoltBeat.WebSocket.Client;

public sealed partial class MoltBeatWSClient
{
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
            // A reconnect never sends a token the server refused or revoked, whatever the provider hands back.
            if (isReconnect && RefusedWithLocked(token) is { } refusedWith)
                throw new MoltBeatConnectionException(NoNewTokenMessage(refusedWith), refusedWith, null, null);
            _lastToken = token;
        }
        var socket = new ClientWebSocket();
        // Our own ping messages are the heartbeat; the server's WebSocket pings are answered by the framework.
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        socket.Options.CollectHttpResponseDetails = true;
        if (Options.Compression)
        {
            // Offered with server_no_context_takeover: a MoltBeat server compresses each event once for all its
            // recipients, so it answers that way anyway, and the inflater then holds no window between messages.
            socket.Options.DangerousDeflateOptions = new WebSocketDeflateOptions { ServerContextTakeover = false, ClientContextTakeover = false };
        }
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

    private static MoltBeatConnectionInfo ParseConnected(JsonElement root)
    {
        var user = new Dictionary<string, string>(StringComparer.Ordinal);
        if (root.TryGetProperty(WireNames.User, out var u) && u.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in u.EnumerateObject())
                user[property.Name] = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString()! : property.Value.GetRawText();
        }
        var heartbeat = root.TryGetProperty(WireNames.HeartbeatInterval, out var h) && h.TryGetInt64(out var ms) ? TimeSpan.FromMilliseconds(ms) : TimeSpan.Zero;
        var protocol = root.TryGetProperty(WireNames.Protocol, out var p) && p.TryGetInt32(out var v) ? v : MessageTypes.ProtocolVersion;
        return new MoltBeatConnectionInfo(GetString(root, WireNames.ClientId) ?? "", user, heartbeat, protocol);
    }

    /// <summary>
    /// Attaches the connection (under the lock, so nothing of the previous one can interleave), starts its
    /// heartbeat and token refresh, then resubscribes every room, asking to recover from where it stood, with the options
    /// it was subscribed with (a subscribe without <c>maxRate</c> or <c>occupancy</c> would turn them off).
    /// </summary>
    private async ValueTask OnConnectedAsync(Connection connection, JsonElement root)
    {
        var info = ParseConnected(root);
        List<(string Room, StreamPosition? Since, SubscribeOptions Options)> rooms;
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
                rooms = [.. _rooms.Select(r => (r.Key, r.Value.Position, r.Value.Options)).OrderBy(r => RoomName.Depth(r.Key))];
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
        foreach (var (room, since, options) in rooms)
        {
            try
            {
                await SendRequestAsync(connection, MessageTypes.Subscribe, room, since, null, RequestKind.Resubscribe, CancellationToken.None, options).ConfigureAwait(false);
            }
            catch (MoltBeatConnectionException)
            {
                return; // the connection is going; the next one resubscribes
            }
        }
    }
}
