using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Client;

/// <summary>
/// The MoltBeat WebSocket client (the seed's <c>MoltBeatWSClient</c>) on <see cref="System.Net.WebSockets.ClientWebSocket"/>:
/// connects with a token, subscribes to rooms, raises events, and survives lost connections by reconnecting with
/// backoff, resubscribing its rooms from where it left off and dropping duplicates, so that the application sees
/// every event once and in order per room (or <see cref="RecoveryFailed"/> when the server's history cannot fill a gap).
/// </summary>
/// <remarks>
/// Every public member may be called from any thread. User callbacks (events, <see cref="On{T}"/> handlers) run one
/// at a time on the client's dispatcher, in the order the client received what they report, never under a lock; a
/// callback that throws is reported through <see cref="Error"/> and does not affect the connection.
/// </remarks>
/// <example>
/// <code>
/// await using var client = new MoltBeatWSClient(new MoltBeatWSClientOptions
/// {
///     Url = new Uri("ws://localhost:3000/ws"),
///     TokenProvider = ct => tokens.GetAsync(ct), // called before every (re)connect and before expiry
/// });
/// client.On&lt;Agent&gt;("agent:created", (agent, e) => Console.WriteLine($"New agent: {agent?.Name}"));
/// client.RecoveryFailed += (_, e) => ReloadRoom(e.Room);
/// await client.ConnectAsync();
/// await client.SubscribeAsync(WSRoom.AgentsOverview);
/// </code>
/// </example>
public sealed partial class MoltBeatWSClient : IAsyncDisposable
{
    // Guards the state, the current connection, the rooms, the pending requests and the dedup window.
    private readonly Lock _gate = new();
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IMoltBeatRetryPolicy _retryPolicy;
    private readonly Dictionary<string, RoomState> _rooms = new(StringComparer.Ordinal);
    private readonly Dictionary<long, PendingRequest> _pending = [];
    private readonly DedupWindow _dedup;
    private MoltBeatWSClientState _state;
    private Connection? _connection;
    private CancellationTokenSource? _session; // from ConnectAsync until DisconnectAsync or giving up
    private MoltBeatConnectionInfo? _connectionInfo;
    private string? _lastToken;
    private readonly List<(string Token, int CloseCode)> _refusedTokens = []; // under _gate; see MoltBeatWSClient.Reconnect.cs
    private int _unstableConnections; // consecutive connections that dropped before they were stable
    private long _nextId;
    private volatile bool _disposed;

    /// <summary>Creates a client; nothing happens until <see cref="ConnectAsync"/>.</summary>
    /// <exception cref="ArgumentException">An option is missing or out of range.</exception>
    public MoltBeatWSClient(MoltBeatWSClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _time = options.TimeProvider;
        _logger = (options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger<MoltBeatWSClient>();
        _retryPolicy = options.RetryPolicy
            ?? new ExponentialBackoffRetryPolicy(options.ReconnectInterval, TimeSpan.FromTicks(Math.Max(options.ReconnectInterval.Ticks, options.MaxReconnectDelay.Ticks)), options.MaxReconnectAttempts);
        _dedup = new DedupWindow(options.DeduplicationWindow);
        _eventCredits = new SemaphoreSlim(options.EventBufferCapacity, options.EventBufferCapacity);
        _dispatcher = Task.Run(DispatchLoopAsync);
    }

    /// <summary>Creates a client for <paramref name="url"/> with default options.</summary>
    public MoltBeatWSClient(Uri url, string? token = null)
        : this(new MoltBeatWSClientOptions { Url = url, Token = token })
    {
    }

    /// <summary>Raised when the server sent <c>connected</c>, first and after every reconnect (the seed's <c>on('connected')</c>).</summary>
    public event EventHandler<MoltBeatConnectedEventArgs>? Connected;

    /// <summary>Raised when a connection that was up has ended, with its close code and whether the client reconnects (the seed's <c>on('disconnected')</c>).</summary>
    public event EventHandler<MoltBeatDisconnectedEventArgs>? Disconnected;

    /// <summary>Raised for a server <c>error</c> no awaited request received, and for a handler that threw (the seed's <c>on('error')</c>).</summary>
    public event EventHandler<MoltBeatErrorEventArgs>? Error;

    /// <summary>Raised when the server confirmed a subscription, also for each resubscription after a reconnect.</summary>
    public event EventHandler<MoltBeatSubscription>? Subscribed;

    /// <summary>
    /// Raised when the server confirmed an unsubscription, or removed a subscription by itself (then with a
    /// <see cref="MoltBeatUnsubscribedEventArgs.Reason"/>, and the room is not resubscribed).
    /// </summary>
    public event EventHandler<MoltBeatUnsubscribedEventArgs>? Unsubscribed;

    /// <summary>Raised before each reconnect attempt, with its number and the delay before it (a dashboard shows "reconnecting in 4 s").</summary>
    public event EventHandler<MoltBeatReconnectingEventArgs>? Reconnecting;

    /// <summary>Raised when the client stopped reconnecting: the attempts ran out, or the token was refused (4001) or revoked (4003) and no new one came.</summary>
    public event EventHandler<MoltBeatReconnectFailedEventArgs>? ReconnectFailed;

    /// <summary>Raised when a room's missed events could not be replayed after a reconnect (<c>"recovered":false</c>): reload that room's state.</summary>
    public event EventHandler<MoltBeatRecoveryFailedEventArgs>? RecoveryFailed;

    /// <summary>
    /// Raised with a room's subscriber count across all nodes, for rooms subscribed with <see cref="SubscribeOptions.Occupancy"/>:
    /// after each (re)subscription, then whenever the count changes, at most once a second per room (the server's pace),
    /// so a dashboard shows who is watching without polling <c>GET /api/rooms/{room}</c>. The latest count stays readable
    /// through <see cref="GetOccupancy(string)"/>.
    /// </summary>
    public event EventHandler<MoltBeatOccupancyEventArgs>? Occupancy;

    /// <summary>Raised for every received event, before the handlers registered with <see cref="On{T}"/> (the seed's <c>on('event')</c>).</summary>
    public event EventHandler<ReceivedEvent>? Event;

    /// <summary>Raised at every change of <see cref="State"/>.</summary>
    public event EventHandler<MoltBeatStateChangedEventArgs>? StateChanged;

    /// <summary>The options in force.</summary>
    public MoltBeatWSClientOptions Options { get; }

    /// <summary>The connection state.</summary>
    public MoltBeatWSClientState State
    {
        get
        {
            lock (_gate)
                return _state;
        }
    }

    /// <summary>Whether the client is connected (the seed's <c>isConnected()</c>).</summary>
    public bool IsConnected => State == MoltBeatWSClientState.Connected;

    /// <summary>The server's latest <c>connected</c> message; null before the first connection.</summary>
    public MoltBeatConnectionInfo? ConnectionInfo
    {
        get
        {
            lock (_gate)
                return _connectionInfo;
        }
    }

    /// <summary>
    /// Connects and completes when the server sent <c>connected</c>. It does not retry: a failure throws, and
    /// <see cref="MoltBeatWSClientOptions.AutoReconnect"/> applies only to connections lost after this succeeded.
    /// </summary>
    /// <returns>The server's <c>connected</c> payload (client id, user).</returns>
    /// <exception cref="MoltBeatConnectionException">The handshake was refused (<see cref="MoltBeatConnectionException.StatusCode"/>), the server closed the connection (<see cref="MoltBeatConnectionException.CloseCode"/>, e.g. 4001), the host is unreachable, or it timed out.</exception>
    /// <exception cref="InvalidOperationException">The client is not <see cref="MoltBeatWSClientState.Disconnected"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled, or <see cref="DisconnectAsync"/> was called meanwhile.</exception>
    public async Task<MoltBeatConnectionInfo> ConnectAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var session = new CancellationTokenSource();
        lock (_gate)
        {
            if (!TryTransition(MoltBeatWSClientState.Disconnected, MoltBeatWSClientState.Connecting))
            {
                session.Dispose();
                throw new InvalidOperationException($"ConnectAsync needs the client to be Disconnected; it is {_state}.");
            }
            _session = session;
        }
        try
        {
            return await OpenAsync(isReconnect: false, session, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            lock (_gate)
            {
                if (_session == session)
                {
                    _session = null;
                    TryTransition(MoltBeatWSClientState.Connecting, MoltBeatWSClientState.Disconnected);
                }
            }
            throw;
        }
    }

    /// <summary>
    /// Closes the connection with 1000 and stops reconnecting (the seed's <c>disconnect()</c>). The rooms are
    /// kept: a later <see cref="ConnectAsync"/> resubscribes them. Completes at once when already disconnected.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting for the server's close reply; the socket is then cut.</param>
    public async Task DisconnectAsync(CancellationToken cancellationToken = default)
    {
        Connection? connection;
        CancellationTokenSource? session;
        MoltBeatWSClientState previous;
        List<PendingRequest> orphans;
        lock (_gate)
        {
            previous = _state;
            if (previous == MoltBeatWSClientState.Disconnected)
                return;
            session = _session;
            _session = null;
            connection = _connection;
            _connection = null;
            TryTransition(previous, MoltBeatWSClientState.Disconnected);
            orphans = TakeAllPendingLocked(null);
        }
        // Stops a connect or reconnect in progress; the attached connection is closed gracefully below.
        session?.Cancel();
        FailPending(orphans, new MoltBeatConnectionException("DisconnectAsync was called before the server replied."));
        if (connection is not null)
            await connection.CloseAsync(CloseCodes.Normal.Code, "client disconnect", _time, cancellationToken).ConfigureAwait(false);
        if (previous is MoltBeatWSClientState.Connected or MoltBeatWSClientState.Reconnecting)
            Post(() => Disconnected?.Invoke(this, new MoltBeatDisconnectedEventArgs(CloseCodes.Normal.Code, "client disconnect", null, WillReconnect: false)));
    }

    /// <summary>Starts <see cref="DisconnectAsync"/> without waiting (the seed's <c>disconnect(): void</c>); a failure is reported through <see cref="Error"/>.</summary>
    public void Disconnect() => _ = ObserveAsync(DisconnectAsync());

    /// <summary>Disconnects, ends every <see cref="ReadEventsAsync"/> enumeration, and stops the dispatcher after it raised what was queued.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
            return;
        await DisconnectAsync().ConfigureAwait(false);
        _disposed = true;
        await StopDispatcherAsync().ConfigureAwait(false);
    }

    /// <summary>Changes the state if it is <paramref name="from"/>; the caller holds <see cref="_gate"/>.</summary>
    /// <exception cref="InvalidOperationException">The transition is not one the state machine allows (a bug).</exception>
    private bool TryTransition(MoltBeatWSClientState from, MoltBeatWSClientState to)
    {
        if (_state != from)
            return false;
        var allowed = (from, to) switch
        {
            (MoltBeatWSClientState.Disconnected, MoltBeatWSClientState.Connecting) => true,
            (MoltBeatWSClientState.Connecting, MoltBeatWSClientState.Connected) => true,
            (MoltBeatWSClientState.Connected, MoltBeatWSClientState.Reconnecting) => true,
            (MoltBeatWSClientState.Reconnecting, MoltBeatWSClientState.Connected) => true,
            (_, MoltBeatWSClientState.Disconnected) => from != MoltBeatWSClientState.Disconnected,
            _ => false,
        };
        if (!allowed)
            throw new InvalidOperationException($"Invalid client state transition {from} -> {to}.");
        _state = to;
        // Queued under the lock, so state events are raised in the order of the transitions.
        var args = new MoltBeatStateChangedEventArgs(from, to);
        Post(() => StateChanged?.Invoke(this, args));
        return true;
    }

    /// <summary>Reports what a fire-and-forget operation throws through <see cref="Error"/>.</summary>
    /// <param name="task">The operation.</param>
    /// <param name="ignoreConnectionLoss">Whether a lost connection is no error (a subscription is resent after the reconnect).</param>
    private async Task ObserveAsync(Task task, bool ignoreConnectionLoss = false)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (MoltBeatConnectionException) when (ignoreConnectionLoss)
        {
        }
        catch (Exception ex)
        {
            PostError(ex);
        }
    }
}
