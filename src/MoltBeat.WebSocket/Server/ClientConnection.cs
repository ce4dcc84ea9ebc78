using System.Net.WebSockets;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using MoltBeat.WebSocket.Auth;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Server.Outgoing;

namespace MoltBeat.WebSocket.Server;

/// <summary>
/// One client's connection: a receive loop that handles its requests, and its <see cref="ConnectionOutput"/>,
/// through which everything it is sent goes (written by the fan-out worker that owns it; see
/// <see cref="FanoutWorkers"/> for the order and bounds that keeps).
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "Disposed in Cleanup, when the connection ends; nothing else owns it.")]
internal sealed partial class ClientConnection : IOutputOwner
{
    private readonly ConnectionServices _services;
    // The ConnectionContext (raw) or HttpContext (hosted) it came on, to cut: not a delegate to its Abort, which
    // would be one more object per connection.
    private readonly object _transport;
    private readonly System.Net.WebSockets.WebSocket _socket;
    private readonly ConnectionStream _stream;
    private readonly ConnectionOutput _output;
    // The rate limit's token bucket: an int, refilled by the sweep timer (RequestTokens.cs).
    private int _requestTokens;
    private readonly CancellationTokenSource _aborted = new();
    private int _closeState; // 0 open, 1 closing after flushing the queue, 2 closing now (queue discarded)
    private CloseCode? _closeCode;
    private WebSocketCloseStatus? _clientCloseStatus;
    private string? _clientCloseDescription;

    /// <summary>Creates the connection over an upgraded duplex stream.</summary>
    /// <param name="services">What it needs of the server it belongs to.</param>
    /// <param name="upgraded">The raw stream after the 101 response.</param>
    /// <param name="transport">What it came on, a <see cref="ConnectionContext"/> or an <see cref="HttpContext"/>: aborted to cut the connection (no close handshake).</param>
    /// <param name="remoteAddress">The peer's address, for logs and hooks.</param>
    /// <param name="batch">Whether the client opted in to batched frames.</param>
    /// <param name="deflate">Whether permessage-deflate was negotiated (the 101 said so).</param>
    public ClientConnection(ConnectionServices services, Stream upgraded, object transport, string? remoteAddress, bool batch, bool deflate)
    {
        _services = services;
        _transport = transport is ConnectionContext or HttpContext ? transport : throw new ArgumentException("A ConnectionContext or an HttpContext.", nameof(transport));
        Batch = batch;
        Deflate = deflate;
        Id = NewClientId();
        _stream = new ConnectionStream(upgraded, services.Time);
        _output = new ConnectionOutput(services.Hub.Workers.Assign(), _stream, this, services.OutputLimits);
        _socket = System.Net.WebSockets.WebSocket.CreateFromStream(_stream, new WebSocketCreationOptions
        {
            IsServer = true,
            // Heartbeats are driven by the server's single sweep timer, not a timer per socket.
            KeepAliveInterval = Timeout.InfiniteTimeSpan,
            // The framework inflates what the client sends compressed. No context takeover either way (the 101 says
            // so), so no inflate state is kept between messages; the server's own frames never go through it.
            DangerousDeflateOptions = deflate ? DeflateOptions : null,
        });
        _requestTokens = services.Options.RateLimitBurst;
        ConnectedAt = services.Time.GetTimestamp();
        LastPingSent = ConnectedAt;
        Info = new WSClientInfo(Id, null, remoteAddress);
    }

    /// <summary>The id sent in <c>connected.clientId</c>.</summary>
    public string Id { get; }

    /// <summary>Whether the client opted in to batched frames (<c>batch=1</c>).</summary>
    public bool Batch { get; }

    /// <summary>Whether the connection negotiated permessage-deflate.</summary>
    public bool Deflate { get; }

    // What DeflateNegotiation.Response agrees to, for the framework's side (reading the client's frames).
    private static readonly WebSocketDeflateOptions DeflateOptions = new()
    {
        ClientContextTakeover = false,
        ServerContextTakeover = false,
    };

    /// <summary>The public view of this connection; replaced when the user changes.</summary>
    public WSClientInfo Info { get; private set; }

    /// <summary>Whether the client has authenticated (always true once <c>connected</c> was sent).</summary>
    public bool IsReady { get; private set; }

    /// <summary>When the token stops being valid; null: never.</summary>
    public DateTimeOffset? ExpiresAt { get; private set; }

    public long ConnectedAt { get; }

    public long LastPingSent { get; set; }

    /// <summary>When the client last sent anything, a ping reply included.</summary>
    public long LastReceived => _stream.LastReadTimestamp;

    public bool IsClosing => Volatile.Read(ref _closeState) != 0;

    /// <summary>
    /// Serves the connection until it closes, then releases its place in the server's connection limit
    /// (<see cref="ConnectionServices.ReleaseConnection"/>), which the caller reserved.
    /// </summary>
    public Task RunAsync(string? handshakeToken)
    {
        _services.Hub.All.TryAdd(this, 0);
        _services.Metrics.Connections.Add(1);
        return ServeAsync(handshakeToken);
    }

    /// <summary>
    /// Queues a replayed event. Replays do not count toward the slow-consumer bound (see
    /// <see cref="ConnectionOutput"/>), so a client cut off for being slow can still catch up.
    /// </summary>
    private void EnqueueReplay(PublishedEvent replayed, string room, int conflated)
    {
        if (Volatile.Read(ref _closeState) == 0)
            _output.PostReplay(replayed, room, conflated);
    }

    /// <summary>Queues a reply or error message to this client; false once it is closing.</summary>
    public bool Send(byte[] message)
    {
        if (Volatile.Read(ref _closeState) != 0)
            return false;
        _output.Post(message, OutgoingKind.Message);
        return true;
    }

    /// <summary>Queues a WebSocket ping, sent after what is queued before it.</summary>
    public void SendPing()
    {
        if (Volatile.Read(ref _closeState) == 0)
            _output.Post(null, OutgoingKind.Ping);
    }

    /// <summary>
    /// Starts closing the connection with <paramref name="code"/>: after the queued messages when
    /// <paramref name="flushQueued"/>, else at once. The close frame is the last thing its output writes.
    /// </summary>
    public void RequestClose(CloseCode code, bool flushQueued, bool initiatedByClient = false)
    {
        if (Interlocked.CompareExchange(ref _closeState, flushQueued ? 1 : 2, 0) != 0)
        {
            // Closing already: a close that cannot wait drops what is still queued.
            if (!flushQueued && Interlocked.Exchange(ref _closeState, 2) != 2)
                _output.PostClose(flushQueued: false);
            return;
        }
        _closeCode = code;
        if (!initiatedByClient)
        {
            _services.Logger.ClosingClient(Id, code.Code, code.Reason);
            _services.Metrics.Closes.Add(1, new KeyValuePair<string, object?>("code", code.Code));
        }
        _output.PostClose(flushQueued);
        try
        {
            // A client that never reads or never answers the close must not hold the connection forever.
            _aborted.CancelAfter(_services.Options.CloseTimeout);
            _aborted.Token.UnsafeRegister(static s => ((ClientConnection)s!).AbortTransport(), this);
        }
        catch (ObjectDisposedException)
        {
            // The connection ended (and cleaned up) while this close was being requested: nothing to cut.
        }
    }

    private async Task CloseForBadCompressionAsync()
    {
        try
        {
            var code = CloseCodes.ProtocolError;
            _services.Logger.ClosingClient(Id, code.Code, code.Reason);
            // Through the stream's own close path: nothing of the output follows it.
            await _stream.WriteAsync(FrameEncoder.Close(code.Code, code.Reason)).AsTask().WaitAsync(_services.Options.CloseTimeout).ConfigureAwait(false);
            _services.Metrics.Closes.Add(1, new KeyValuePair<string, object?>("code", code.Code));
            await _stream.DrainAsync(_services.Options.CloseTimeout).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or TimeoutException or InvalidOperationException)
        {
            // The transport is gone too: nothing to tell.
        }
    }

    private async Task WaitOrAbortAsync(Task task)
    {
        try
        {
            await task.WaitAsync(_services.Options.CloseTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            AbortTransport();
        }
    }

    private void Cleanup()
    {
        // An operator's control may be changing the subscriptions right now (from another thread): wait for it, briefly.
        _requestGate.Wait();
        try
        {
            _cleanedUp = true;
            foreach (var room in _subscriptions.Rooms)
            {
                _services.Hub.Leave(room, _output);
                _services.Occupancy.Unwatch(room, this);
            }
            _services.Metrics.Subscriptions.Add(-_subscriptions.Count);
            _subscriptions.Clear();
        }
        finally
        {
            _requestGate.Release();
        }
        _services.Hub.RemoveReady(_output);
        _services.Hub.All.TryRemove(this, out _);
        _services.Metrics.Connections.Add(-1);
        _aborted.Dispose();
        var code = _clientCloseStatus is { } s ? (int)s : _closeCode?.Code;
        var reason = _clientCloseStatus is not null ? _clientCloseDescription : _closeCode?.Reason;
        _services.Logger.ClientDisconnected(Id, code, reason);
        if (IsReady)
            _services.RaiseDisconnected(new WSClientDisconnectedEventArgs(Info, code, reason));
        _socket.Dispose();
        _stream.DisposeTransport();
    }

    private void BecomeReady(WSUser? user)
    {
        Info = Info with { User = user };
        if (user is not null && _services.Hub.Revocations.Refuses(user))
        {
            // Revoked while it authenticated: the control did not see this connection as the user's yet (Revocations).
            _services.Logger.AuthenticationFailed(Id, "token revoked");
            RequestClose(CloseCodes.Unauthorized, flushQueued: false);
            return;
        }
        ExpiresAt = user?.ExpiresAt;
        IsReady = true;
        var userJson = user is null ? null : new Dictionary<string, string> { ["userId"] = user.UserId };
        Send(ServerMessages.Connected(Id, userJson, (int)_services.Options.HeartbeatInterval.TotalMilliseconds));
        _services.Hub.AddReady(_output);
        _services.Logger.ClientConnected(Id, Info.RemoteAddress, user?.UserId);
        _services.RaiseConnected(new WSClientConnectedEventArgs(Info));
    }

    private void AbortTransport()
    {
        if (_transport is ConnectionContext connection)
            connection.Abort();
        else
            ((HttpContext)_transport).Abort();
    }

    private static string NewClientId()
    {
        Span<byte> bytes = stackalloc byte[8];
        RandomNumberGenerator.Fill(bytes);
        return "c_" + Convert.ToHexStringLower(bytes);
    }
}
