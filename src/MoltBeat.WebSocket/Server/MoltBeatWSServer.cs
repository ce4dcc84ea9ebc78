using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Hosting;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Server.Occupancy;
using MoltBeat.WebSocket.Server.Outgoing;

namespace MoltBeat.WebSocket.Server;

/// <summary>
/// The MoltBeat WebSocket server (the seed's <c>MoltBeatWSServer</c>): accepts clients on a path,
/// keeps their room subscriptions, and fans published events out to them. Runs standalone on a port
/// (<see cref="StartAsync"/>) or inside an ASP.NET Core app (<c>AddMoltBeatWebSocket</c> +
/// <c>MapMoltBeatWebSocket</c>).
/// </summary>
public sealed partial class MoltBeatWSServer : IAsyncDisposable
{
    private readonly Lazy<Task> _engineStarted;
    private readonly ITimer _sweepTimer;
    private readonly bool _ownsEngine;
    private readonly bool _ownsMetrics;
    private readonly ConnectionServices _connectionServices;
    private int _connectionCount;
    private volatile bool _closing;
    private readonly Lock _closingLock = new();
    private Task? _closingTask;
    private long _lastReplenish;

    /// <summary>Creates a server.</summary>
    /// <param name="options">Its options; validated here.</param>
    /// <param name="engine">Where events travel and are kept; an <see cref="InMemoryEngine"/> when null.</param>
    /// <param name="loggerFactory">Logging; none when null.</param>
    /// <param name="metrics">Instruments; a meter of its own when null.</param>
    /// <param name="timeProvider">The clock for heartbeats, auth timeouts and token expiry; the system clock when null.</param>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public MoltBeatWSServer(
        WSServerOptions? options = null,
        IMoltBeatEngine? engine = null,
        ILoggerFactory? loggerFactory = null,
        MoltBeatMetrics? metrics = null,
        TimeProvider? timeProvider = null)
    {
        Options = options ?? new WSServerOptions();
        Options.Validate();
        Time = timeProvider ?? TimeProvider.System;
        _ownsEngine = engine is null;
        Engine = engine ?? new InMemoryEngine(Options.History, Time);
        _ownsMetrics = metrics is null;
        Metrics = metrics ?? new MoltBeatMetrics();
        LoggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        Logger = LoggerFactory.CreateLogger<MoltBeatWSServer>();
        Hub = new ConnectionHub(Options.FanoutWorkers, Metrics, Logger, Time, [.. Options.MetricRooms]);
        OutputLimits = OutputLimits.From(Options);
        OccupancyWatch = new RoomOccupancyWatch(Engine, Logger, Time, Options.OccupancyInterval);
        _connectionServices = new ConnectionServices(Options, Engine, Hub, Metrics, Logger, Time, OutputLimits, OccupancyWatch, RaiseConnected, RaiseDisconnected, ReleaseConnection);
        _engineStarted = new Lazy<Task>(() => Engine.StartAsync(Hub, CancellationToken.None));
        CreateOccupancyTracker();
        _lastReplenish = Time.GetTimestamp();
        // One timer drives every connection's heartbeat, auth timeout, token expiry and rate-limit refill.
        var period = TimeSpan.FromTicks(Math.Clamp(Options.HeartbeatInterval.Ticks / 4, TimeSpan.FromMilliseconds(20).Ticks, TimeSpan.FromSeconds(1).Ticks));
        _sweepTimer = Time.CreateTimer(static s => ((MoltBeatWSServer)s!).Sweep(), this, period, period);
    }

    /// <summary>Raised when a client has connected and authenticated (before it subscribes).</summary>
    public event EventHandler<WSClientConnectedEventArgs>? Connected;

    /// <summary>Raised when an authenticated client's connection has ended (the seed's <c>on('disconnect')</c>).</summary>
    public event EventHandler<WSClientDisconnectedEventArgs>? Disconnected;

    /// <summary>The options in force.</summary>
    public WSServerOptions Options { get; }

    /// <summary>The engine in use.</summary>
    public IMoltBeatEngine Engine { get; }

    /// <summary>The server's instruments.</summary>
    public MoltBeatMetrics Metrics { get; }

    internal TimeProvider Time { get; }

    internal ILoggerFactory LoggerFactory { get; }

    internal ILogger Logger { get; }

    internal ConnectionHub Hub { get; }

    internal OutputLimits OutputLimits { get; }

    internal RoomOccupancyWatch OccupancyWatch { get; }

    /// <summary>
    /// Serves one HTTP request on the WebSocket path: refuses what must be refused at the handshake
    /// (400 not a WebSocket request, 403 origin not allowed, 503 full or shutting down), then runs the
    /// connection until it closes.
    /// </summary>
    public async Task HandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var handshake = HandshakeRequest.From(context);
        if (context.Features.Get<IHttpUpgradeFeature>() is not { IsUpgradableRequest: true })
            handshake = handshake with { Upgrade = null };
        if (Refusal(handshake) is { } refused)
        {
            await RefuseAsync(context, refused.Status, refused.Reason).ConfigureAwait(false);
            return;
        }
        if (!TryReserveConnection())
        {
            await RefuseAsync(context, StatusCodes.Status503ServiceUnavailable, "Too many connections.").ConfigureAwait(false);
            return;
        }
        var deflate = NegotiatesDeflate(handshake);
        Stream stream;
        try
        {
            stream = await WebSocketHandshake.AcceptAsync(context, deflate).ConfigureAwait(false);
        }
        catch
        {
            ReleaseConnection();
            throw;
        }
        await RunConnectionAsync(stream, context, handshake, deflate).ConfigureAwait(false);
    }

    /// <summary>Why a handshake must be refused (HTTP status and text), or null to accept it.</summary>
    internal (int Status, string Reason)? Refusal(HandshakeRequest request)
    {
        if (!HttpMethods.IsGet(request.Method) || request.Upgrade?.Contains("websocket", StringComparison.OrdinalIgnoreCase) != true)
            return (StatusCodes.Status400BadRequest, "This endpoint accepts WebSocket connections only (see protocol.md).");
        if (_closing)
            return (StatusCodes.Status503ServiceUnavailable, "The server is shutting down.");
        if (request.Origin is { Length: > 0 } origin && Options.AllowedOrigins.Count > 0 && !Options.AllowedOrigins.Contains(origin, StringComparer.OrdinalIgnoreCase))
            return (StatusCodes.Status403Forbidden, "Origin not allowed.");
        if (WebSocketHandshake.Validate(request.Version, request.Key) is { } invalid)
            return (StatusCodes.Status400BadRequest, invalid);
        return null;
    }

    /// <summary>Whether the connection will use permessage-deflate: the server allows it and the client offered it in a form it accepts.</summary>
    internal bool NegotiatesDeflate(HandshakeRequest request) =>
        Options.Compression && Compression.DeflateNegotiation.Accepts(request.Extensions);

    /// <summary>Starts the engine, once (the first call starts it, every call waits for the same start).</summary>
    internal Task StartEngineAsync() => _engineStarted.Value;

    /// <summary>Counts a connection against <see cref="WSServerOptions.MaxConnections"/>; false when full.</summary>
    internal bool TryReserveConnection()
    {
        if (Interlocked.Increment(ref _connectionCount) <= Options.MaxConnections)
            return true;
        Interlocked.Decrement(ref _connectionCount);
        return false;
    }

    internal void ReleaseConnection() => Interlocked.Decrement(ref _connectionCount);

    /// <summary>
    /// Runs an accepted connection (after the 101) until it closes, whichever transport accepted it, and then
    /// releases the place in the connection limit that the caller reserved (<see cref="TryReserveConnection"/>).
    /// </summary>
    internal Task RunConnectionAsync(Stream upgraded, object transport, HandshakeRequest handshake, bool deflate)
    {
        // Not an async method on the common path: every idle connection would keep its state machine.
        if (!_engineStarted.Value.IsCompletedSuccessfully)
            return RunAfterEngineStartAsync();
        ClientConnection connection;
        try
        {
            connection = new ClientConnection(_connectionServices, upgraded, transport, handshake.RemoteAddress, handshake.Batch, deflate);
        }
        catch
        {
            ReleaseConnection();
            throw;
        }
        return connection.RunAsync(handshake.Token);

        async Task RunAfterEngineStartAsync()
        {
            try
            {
                await _engineStarted.Value.ConfigureAwait(false);
            }
            catch
            {
                ReleaseConnection();
                throw;
            }
            await RunConnectionAsync(upgraded, transport, handshake, deflate).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Statistics of this node (the seed's <c>getStats()</c>): authenticated clients, rooms with their
    /// subscriber counts, and the engine's history figures.
    /// </summary>
    public WSServerStats GetStats()
    {
        var rooms = Hub.RoomCounts();
        var ready = Hub.ReadyCount;
        return new WSServerStats(
            ready,
            rooms.Count,
            [.. rooms.Select(r => new WSRoomStats(r.Room, r.Members))],
            Math.Max(0, Hub.All.Count - ready),
            Engine.GetStats(),
            Hub.RecoveryStats);
    }

    /// <summary>
    /// Closes one client's connection with <paramref name="code"/> (default 1000) after what is queued
    /// for it has been sent, e.g. to kick a user. Returns false when no such client is connected here.
    /// </summary>
    public bool DisconnectClient(string clientId, CloseCode? code = null)
    {
        foreach (var connection in Hub.All.Keys)
        {
            if (connection.Id == clientId)
            {
                connection.RequestClose(code ?? CloseCodes.Normal, flushQueued: true);
                return true;
            }
        }
        return false;
    }

    /// <summary>True once <see cref="CloseAsync"/> has begun: the server refuses new clients and is closing the others.</summary>
    public bool IsClosing => _closing;

    /// <summary>
    /// Closes the server gracefully: refuses new clients, closes every client with 1001 after what was
    /// queued for it has been sent, and waits (at most <see cref="WSServerOptions.CloseTimeout"/>) for them to go.
    /// </summary>
    public async Task CloseAsync()
    {
        // Every caller waits for the same closing, however many call (the host's stopping signal and its stop).
        Task closing;
        lock (_closingLock)
        {
            // Set before the clients are asked to close: a client arriving meanwhile is refused, not missed.
            _closing = true;
            closing = _closingTask ??= CloseClientsAsync();
        }
        await closing.ConfigureAwait(false);
        await StopStandaloneAsync().ConfigureAwait(false);
    }

    private async Task CloseClientsAsync()
    {
        Logger.ShuttingDown(Hub.All.Count);
        foreach (var connection in Hub.All.Keys)
            connection.RequestClose(CloseCodes.GoingAway, flushQueued: true);
        // Shutdown waits on the real clock: an injected test clock must not be able to stall it.
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!Hub.All.IsEmpty && waited.Elapsed < Options.CloseTimeout + TimeSpan.FromSeconds(1))
            await Task.Delay(TimeSpan.FromMilliseconds(20)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await CloseAsync().ConfigureAwait(false);
        await _sweepTimer.DisposeAsync().ConfigureAwait(false);
        await OccupancyWatch.DisposeAsync().ConfigureAwait(false);
        await OccupancyTracker.DisposeAsync().ConfigureAwait(false);
        Hub.Dispose();
        if (_ownsEngine)
            await Engine.DisposeAsync().ConfigureAwait(false);
        if (_ownsMetrics)
            Metrics.Dispose();
    }

    internal void RaiseConnected(WSClientConnectedEventArgs args) => Raise(Connected, args);

    internal void RaiseDisconnected(WSClientDisconnectedEventArgs args) => Raise(Disconnected, args);

    private void Raise<T>(EventHandler<T>? handler, T args)
    {
        try
        {
            handler?.Invoke(this, args);
        }
        catch (Exception ex)
        {
            // A user's handler must not break a connection or the server.
            Logger.EventHandlerFailed(ex);
        }
    }

    private void Sweep()
    {
        var now = Time.GetTimestamp();
        var utcNow = Time.GetUtcNow();
        var replenish = Time.GetElapsedTime(_lastReplenish, now) >= TimeSpan.FromSeconds(1);
        if (replenish)
            _lastReplenish = now;
        var heartbeat = Options.HeartbeatInterval;
        foreach (var connection in Hub.All.Keys)
        {
            if (connection.IsClosing)
                continue;
            if (replenish)
                connection.ReplenishRateLimit();
            if (!connection.IsReady)
            {
                if (Time.GetElapsedTime(connection.ConnectedAt, now) >= Options.AuthTimeout)
                    connection.RequestClose(CloseCodes.Unauthorized, flushQueued: false);
            }
            else if (Time.GetElapsedTime(connection.LastReceived, now) >= heartbeat * 2)
            {
                connection.RequestClose(CloseCodes.HeartbeatTimeout, flushQueued: false);
            }
            else if (connection.ExpiresAt is { } expires && expires <= utcNow)
            {
                connection.RequestClose(CloseCodes.TokenExpired, flushQueued: true);
            }
            else if (Time.GetElapsedTime(connection.LastPingSent, now) >= heartbeat)
            {
                connection.LastPingSent = now;
                connection.SendPing();
            }
        }
    }

    private async Task RefuseAsync(HttpContext context, int status, string reason)
    {
        Logger.HandshakeRefused(context.Connection.RemoteIpAddress?.ToString(), status, reason);
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(reason, context.RequestAborted).ConfigureAwait(false);
    }
}
