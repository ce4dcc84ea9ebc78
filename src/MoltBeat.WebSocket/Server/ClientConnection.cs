using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Connections;
using MoltBeat.WebSocket.Auth;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Server;

/// <summary>
/// One client's connection: a receive loop that handles its requests, and one writer that drains its
/// bounded outgoing queue. Messages go through the queue, except an event that finds the connection idle
/// (nothing queued, writer parked), which the publishing thread may write itself under a claim on the
/// queue (see <see cref="DeliverEvent"/>), so that nothing is ever sent out of order.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "Disposed in Cleanup, when the connection ends; nothing else owns it.")]
internal sealed partial class ClientConnection
{
    private readonly MoltBeatWSServer _server;
    private readonly Action _abortTransport;
    private readonly System.Net.WebSockets.WebSocket _socket;
    private readonly CorkableStream _stream;
    private readonly OutgoingQueue<Outgoing> _queue = new();
    private readonly TokenBucketRateLimiter _rateLimiter;
    private readonly CancellationTokenSource _aborted = new();
    private long _queuedBytes;
    private int _queuedMessages;
    private int _closeState; // 0 open, 1 closing after flushing the queue, 2 closing now (queue discarded)
    private CloseCode? _closeCode;
    private WebSocketCloseStatus? _clientCloseStatus;
    private string? _clientCloseDescription;

    /// <summary>Creates the connection over an upgraded duplex stream.</summary>
    /// <param name="server">The server it belongs to.</param>
    /// <param name="upgraded">The raw stream after the 101 response.</param>
    /// <param name="abortTransport">Cuts the underlying connection (no close handshake).</param>
    /// <param name="remoteAddress">The peer's address, for logs and hooks.</param>
    /// <param name="batch">Whether the client opted in to batched frames.</param>
    public ClientConnection(MoltBeatWSServer server, Stream upgraded, Action abortTransport, string? remoteAddress, bool batch)
    {
        _server = server;
        _abortTransport = abortTransport;
        Batch = batch;
        Id = NewClientId();
        _stream = new CorkableStream(upgraded, server.Time);
        _socket = System.Net.WebSockets.WebSocket.CreateFromStream(_stream, new WebSocketCreationOptions
        {
            IsServer = true,
            // Heartbeats are driven by the server's single sweep timer, not a timer per socket.
            KeepAliveInterval = Timeout.InfiniteTimeSpan,
        });
        var options = server.Options;
        _rateLimiter = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = options.RateLimitBurst,
            TokensPerPeriod = options.RateLimitPerSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            // Replenished by the sweep timer: a limiter with its own timer per connection would not scale.
            AutoReplenishment = false,
            QueueLimit = 0,
        });
        ConnectedAt = server.Time.GetTimestamp();
        LastPingSent = ConnectedAt;
        Info = new WSClientInfo(Id, null, remoteAddress);
    }

    /// <summary>The id sent in <c>connected.clientId</c>.</summary>
    public string Id { get; }

    /// <summary>Whether the client opted in to batched frames (<c>batch=1</c>).</summary>
    public bool Batch { get; }

    /// <summary>The public view of this connection; replaced when the user changes.</summary>
    public WSClientInfo Info { get; private set; }

    /// <summary>Whether the client has authenticated (always true once <c>connected</c> was sent).</summary>
    public bool IsReady { get; private set; }

    /// <summary>When the token stops being valid; null: never.</summary>
    public DateTimeOffset? ExpiresAt { get; private set; }

    /// <summary>Set by the hub during fan-out so that one publish reaches a connection once.</summary>
    public long DeliveryStamp { get; set; }

    public long ConnectedAt { get; }

    public long LastPingSent { get; set; }

    /// <summary>When the client last sent anything, a ping reply included.</summary>
    public long LastReceived => _stream.LastReadTimestamp;

    public bool IsClosing => Volatile.Read(ref _closeState) != 0;

    /// <summary>Serves the connection until it closes.</summary>
    public async Task RunAsync(string? handshakeToken)
    {
        _server.Hub.All.TryAdd(this, 0);
        _server.Metrics.Connections.Add(1);
        var writer = Task.Run(RunWriterAsync);
        try
        {
            if (_server.Options.AuthenticateClient is null)
                BecomeReady(null);
            else if (handshakeToken is not null)
                await AuthenticateAsync(handshakeToken, id: null, isRefresh: false).ConfigureAwait(false);
            // The token is not kept for the connection's life (this method's state lives as long).
            handshakeToken = null;
            await RunReceiveLoopAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException or ConnectionAbortedException)
        {
            _server.Logger.ConnectionFault(ex, Id);
            if (_socket.CloseStatus is not null)
            {
                // The framework closed for a protocol error (1002/1007) while the client may still be sending.
                // Closing the socket over unread input makes the kernel send a reset, which can destroy the
                // close frame before the client reads it: read and drop its input for a moment first.
                await _stream.DrainAsync(_server.Options.CloseTimeout).ConfigureAwait(false);
            }
        }
        finally
        {
            // The client closed, or the socket died: answer a close handshake if one is pending, then stop.
            RequestClose(_clientCloseStatus is { } status ? new CloseCode((int)status, _clientCloseDescription ?? "", ReconnectAdvice.DoNotReconnect) : CloseCodes.Normal, flushQueued: false, initiatedByClient: true);
            await WaitOrAbortAsync(writer).ConfigureAwait(false);
            Cleanup();
        }
    }

    /// <summary>
    /// Hands an event to this connection: when <paramref name="framed"/> (the event as a whole WebSocket frame)
    /// is given and the connection is idle, it is written at once from the caller's thread (see
    /// <see cref="TryWriteNow"/>); otherwise <paramref name="message"/> is queued for the writer.
    /// </summary>
    /// <returns>How the event went: dropped (closing, or just closed as a slow consumer), queued, or written.</returns>
    public EventHandoff DeliverEvent(byte[] message, byte[]? framed)
    {
        if (framed is not null && Volatile.Read(ref _closeState) == 0 && TryWriteNow(framed))
            return EventHandoff.Written;
        return Enqueue(new Outgoing(message, OutgoingKind.Message)) ? EventHandoff.Queued : EventHandoff.Dropped;
    }

    /// <summary>
    /// Queues a replayed event. Replays do not count toward the slow-consumer bound: their bytes are the
    /// history's own (shared, already bounded by it), and counting them would close a client that was cut
    /// off for being slow again on every attempt to recover, so it could never catch up.
    /// </summary>
    private void EnqueueReplay(byte[] frame)
    {
        if (Volatile.Read(ref _closeState) == 0)
            _queue.TryWrite(new Outgoing(frame, OutgoingKind.Replay));
    }

    /// <summary>Queues a reply or error message to this client.</summary>
    public bool Send(byte[] message) => Enqueue(new Outgoing(message, OutgoingKind.Message));

    /// <summary>Queues a WebSocket ping, sent by the writer between messages.</summary>
    public void SendPing() => Enqueue(new Outgoing(null, OutgoingKind.Ping));

    private bool Enqueue(Outgoing item)
    {
        if (Volatile.Read(ref _closeState) != 0)
            return false;
        var length = item.Message?.Length ?? 2;
        var bytes = Interlocked.Add(ref _queuedBytes, length);
        var count = Interlocked.Increment(ref _queuedMessages);
        var options = _server.Options;
        if (bytes > options.MaxQueuedBytes || count > options.MaxQueuedMessages)
        {
            // One slow client must never grow the server's memory: drop its queue and let it recover.
            _server.Logger.SlowConsumer(Id, bytes, count);
            _server.Hub.CountSlowConsumer();
            RequestClose(CloseCodes.SlowConsumer, flushQueued: false);
            return false;
        }
        return _queue.TryWrite(item);
    }

    /// <summary>
    /// Starts closing the connection with <paramref name="code"/>: after the queued messages when
    /// <paramref name="flushQueued"/>, else at once. The close frame is the writer's last message.
    /// </summary>
    public void RequestClose(CloseCode code, bool flushQueued, bool initiatedByClient = false)
    {
        if (Interlocked.CompareExchange(ref _closeState, flushQueued ? 1 : 2, 0) != 0)
        {
            if (!flushQueued)
                Volatile.Write(ref _closeState, 2);
            return;
        }
        _closeCode = code;
        if (!initiatedByClient)
        {
            _server.Logger.ClosingClient(Id, code.Code, code.Reason);
            _server.Metrics.Closes.Add(1, new KeyValuePair<string, object?>("code", code.Code));
        }
        _queue.Complete();
        try
        {
            // A client that never reads or never answers the close must not hold the connection forever.
            _aborted.CancelAfter(_server.Options.CloseTimeout);
            _aborted.Token.UnsafeRegister(static s => ((ClientConnection)s!)._abortTransport(), this);
        }
        catch (ObjectDisposedException)
        {
            // The connection ended (and cleaned up) while this close was being requested: nothing to cut.
        }
    }

    private async Task WaitOrAbortAsync(Task task)
    {
        try
        {
            await task.WaitAsync(_server.Options.CloseTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _abortTransport();
        }
    }

    private void Cleanup()
    {
        foreach (var room in _subscriptions.Keys)
            _server.Hub.Rooms.Remove(room, this);
        _server.Metrics.Subscriptions.Add(-_subscriptions.Count);
        _subscriptions.Clear();
        _server.Hub.RemoveReady(this);
        _server.Hub.All.TryRemove(this, out _);
        _server.Metrics.Connections.Add(-1);
        _rateLimiter.Dispose();
        _aborted.Dispose();
        var code = _clientCloseStatus is { } s ? (int)s : _closeCode?.Code;
        var reason = _clientCloseStatus is not null ? _clientCloseDescription : _closeCode?.Reason;
        _server.Logger.ClientDisconnected(Id, code, reason);
        if (IsReady)
            _server.RaiseDisconnected(new WSClientDisconnectedEventArgs(Info, code, reason));
        _socket.Dispose();
        _stream.DisposeTransport();
    }

    /// <summary>Adds tokens to the rate limiter; called by the sweep timer once a second.</summary>
    public void ReplenishRateLimit() => _rateLimiter.TryReplenish();

    private void BecomeReady(WSUser? user)
    {
        Info = Info with { User = user };
        ExpiresAt = user?.ExpiresAt;
        IsReady = true;
        var userJson = user is null ? null : new Dictionary<string, string> { ["userId"] = user.UserId };
        Send(ServerMessages.Connected(Id, userJson, (int)_server.Options.HeartbeatInterval.TotalMilliseconds));
        _server.Hub.AddReady(this);
        _server.Logger.ClientConnected(Id, Info.RemoteAddress, user?.UserId);
        _server.RaiseConnected(new WSClientConnectedEventArgs(Info));
    }

    private static string NewClientId()
    {
        Span<byte> bytes = stackalloc byte[8];
        RandomNumberGenerator.Fill(bytes);
        return "c_" + Convert.ToHexStringLower(bytes);
    }

    private enum OutgoingKind : byte
    {
        Message,
        Replay,
        Ping,
    }

    private readonly record struct Outgoing(byte[]? Message, OutgoingKind Kind);
}

/// <summary>What became of an event handed to a connection.</summary>
internal enum EventHandoff : byte
{
    /// <summary>Not delivered: the connection is closing (or was just closed as a slow consumer).</summary>
    Dropped,

    /// <summary>Queued for the connection's writer.</summary>
    Queued,

    /// <summary>Written to the transport by the publishing thread.</summary>
    Written,
}
