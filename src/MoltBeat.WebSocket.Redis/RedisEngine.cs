using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Rooms;
using StackExchange.Redis;

namespace MoltBeat.WebSocket.Redis;

/// <summary>
/// The engine for several MoltBeat servers on one Redis: a publish on any node reaches the subscribers of
/// every node, and room history, offsets and epochs live in Redis, so a client recovers on any node.
/// </summary>
/// <remarks>
/// <para>
/// One Lua script assigns each event's offset in every delivery room, appends it to each room's history
/// stream and publishes it on the deployment's one channel (the publishes of a node that arrive together go
/// in one script call): Redis runs scripts one at a time, so every node receives events in the order their
/// offsets were assigned. Each node holds one
/// subscription to that channel (not one per client) and hands the events to its connections one at a
/// time, in that order.
/// </para>
/// <para>
/// When Redis is unreachable the node keeps serving its connections, publishes fail at once with
/// <see cref="EngineUnavailableException"/>, nothing is queued, and <see cref="GetStats"/> reports
/// unhealthy. StackExchange.Redis reconnects and resubscribes by itself. Events published while a node's
/// subscription was down reach its clients late, in order, from the history of <c>all</c> while it holds them
/// (<c>RedisEngine.Delivery.cs</c>). A Redis
/// that restarted without persistence lost all history: rooms get new epochs, and clients that held
/// positions are told <c>recovered:false</c>. So do the rooms of a Redis found behind what a node delivered
/// (a replica promoted without the last writes; <c>RedisScripts.Generation</c>).
/// </para>
/// </remarks>
public sealed partial class RedisEngine : IMoltBeatEngine
{
    private readonly RedisEngineOptions _options;
    private readonly HistoryOptions _history;
    private readonly RedisKeys _keys;
    private readonly ILogger _logger;
    private readonly RedisValue _maxCount;
    private readonly RedisValue _maxAgeMs;
    private readonly RedisValue _idleMs;
    private readonly RedisValue _idempotencyMs;
    private readonly RedisKey _allMeta;
    private readonly CancellationTokenSource _stopping = new();
    private ConnectionMultiplexer? _redis;
    private string _endpoints = "";
    private IEventSink? _sink;
    private int _disposed;

    /// <summary>Creates the engine; it connects in <see cref="StartAsync"/>.</summary>
    /// <param name="options">Where Redis is and what to keep there; validated here.</param>
    /// <param name="loggerFactory">Logging; none when null.</param>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public RedisEngine(RedisEngineOptions options, ILoggerFactory? loggerFactory = null)
        : this(options, loggerFactory, null)
    {
    }

    internal RedisEngine(RedisEngineOptions options, ILoggerFactory? loggerFactory, HistoryOptions? fallbackHistory)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _history = options.History ?? fallbackHistory ?? new HistoryOptions();
        _history.Validate();
        _keys = new RedisKeys(options.KeyPrefix);
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<RedisEngine>();
        _maxCount = _history.MaxEventsPerRoom;
        _maxAgeMs = (long)Math.Min(_history.MaxAge.TotalMilliseconds, 1e15);
        _idleMs = (long)Math.Min(options.RoomIdleExpiry.TotalMilliseconds, 1e15);
        _idempotencyMs = (long)Math.Min(options.IdempotencyWindow.TotalMilliseconds, 1e15);
        _allMeta = _keys.Meta(WSRoom.AllEvents);
        // Shared for a second at most, and well within the history's age bound.
        _sharedReads = new(SharedReadsKept, TimeSpan.FromTicks(Math.Min(TimeSpan.TicksPerSecond, _history.MaxAge.Ticks / 10)));
    }

    /// <summary>The history bounds in force (the options', the server's, or the defaults).</summary>
    public HistoryOptions History => _history;

    /// <inheritdoc />
    /// <remarks>
    /// Returns once this node is subscribed to the deployment's channel, so that what is published after it is delivered here;
    /// it waits up to <see cref="RedisEngineOptions.OperationTimeout"/> for that. It starts even when Redis is unreachable: the
    /// node serves its connections and catches up when Redis returns.
    /// </remarks>
    public async Task StartAsync(IEventSink sink, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sink);
        if (_sink is not null)
            throw new InvalidOperationException("The engine is started already.");
        _sink = sink;
        var config = ConfigurationOptions.Parse(_options.Configuration);
        config.AbortOnConnectFail = false; // start, and keep reconnecting, even while Redis is down
        config.BacklogPolicy = BacklogPolicy.FailFast; // no queue of commands while disconnected: fail at once
        config.AsyncTimeout = config.SyncTimeout = (int)Math.Min(_options.OperationTimeout.TotalMilliseconds, int.MaxValue);
        // The multiplexer looks for timed-out calls once a heartbeat (every second by default), so a call to a paused Redis
        // failed up to a second after its timeout; at a quarter of the timeout it fails within 1.25 times it.
        var heartbeat = TimeSpan.FromTicks(Math.Clamp(_options.OperationTimeout.Ticks / 4, TimeSpan.TicksPerMillisecond * 50, TimeSpan.TicksPerSecond));
        if (heartbeat < config.HeartbeatInterval)
            config.HeartbeatInterval = heartbeat;
        config.ReconnectRetryPolicy ??= new ExponentialRetry(250, 5000);
        config.ClientName ??= "moltbeat";
        _endpoints = string.Join(",", config.EndPoints.Select(e => e.ToString()));
        _redis = await ConnectionMultiplexer.ConnectAsync(config).ConfigureAwait(false);
        _redis.ConnectionFailed += OnConnectionFailed;
        _redis.ConnectionRestored += OnConnectionRestored;
        StartPublishing();
        await StartDeliveryAsync(cancellationToken).ConfigureAwait(false);
        StartHeartbeats();
        _logger.Started(_endpoints, _keys.EventsName);
    }

    /// <inheritdoc />
    public async ValueTask BroadcastToAllAsync(PublishedEvent published, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(published);
        var redis = ConnectedRedis("broadcast");
        try
        {
            await redis.GetSubscriber().PublishAsync(_keys.Events, RedisMessage.ForBroadcast(published.Frame)).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            throw Unavailable("broadcast", ex);
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// The control goes on the deployment's channel, so every node applies it in order with the events around it,
    /// within a pub/sub hop of this call. A revocation is first kept in a key of its own
    /// (<c>{prefix}:r:&lt;user&gt;</c> = the time in Unix ms, expiring after <see cref="EngineControl.RevocationKept"/>), set and
    /// published by one script, which is what nodes that start later, or missed the message, read.
    /// </remarks>
    public async ValueTask PublishControlAsync(EngineControl control, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(control);
        var message = RedisMessage.ForControl(control);
        cancellationToken.ThrowIfCancellationRequested();
        if (control.Kind == EngineControlKind.RevokeUser)
        {
            RedisValue[] args =
            [
                control.At.ToUnixTimeMilliseconds(),
                (long)EngineControl.RevocationKept.TotalSeconds,
                _keys.EventsName,
                message,
            ];
            await EvaluateAsync(RedisScripts.Revoke, [_keys.Revoked(control.UserId)], args, "revocation").ConfigureAwait(false);
            return;
        }
        var redis = ConnectedRedis("control");
        try
        {
            await redis.GetSubscriber().PublishAsync(_keys.Events, message).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            throw Unavailable("control", ex);
        }
    }

    /// <inheritdoc />
    /// <remarks>One <c>GET</c> of the user's revocation key; Redis forgets it after <see cref="EngineControl.RevocationKept"/>.</remarks>
    public async ValueTask<Protocol.StreamPosition> GetPositionAsync(string room, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(room);
        if (!RoomName.IsValid(room))
            throw new ArgumentException($"Invalid room '{room}'.", nameof(room));
        cancellationToken.ThrowIfCancellationRequested();
        // The subscribe's own read (without since): it starts the room's epoch if nobody published there yet, so the
        // position told now is the one a subscribe and the next publish agree with.
        return (await ReadAsync(room, ReplayRequest.None).ConfigureAwait(false)).Result.Position;
    }

    /// <inheritdoc />
    /// <remarks>One read of its own, not shared with subscribes: it answers as of its instant, which no delivery on this node has to meet.</remarks>
    public async ValueTask<RecoveryResult> ReadHistoryAsync(string room, ReplayRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(room);
        ArgumentNullException.ThrowIfNull(request);
        if (!RoomName.IsValid(room))
            throw new ArgumentException($"Invalid room '{room}'.", nameof(room));
        cancellationToken.ThrowIfCancellationRequested();
        return (await ReadAsync(room, request).ConfigureAwait(false)).Result;
    }

    /// <inheritdoc />
    public async ValueTask<DateTimeOffset?> GetRevocationAsync(string userId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(userId);
        var redis = ConnectedRedis("revocation check");
        RedisValue kept;
        try
        {
            kept = await redis.GetDatabase().StringGetAsync(_keys.Revoked(userId)).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            throw Unavailable("revocation check", ex);
        }
        return !kept.IsNull && kept.TryParse(out long ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _stopping.CancelAsync().ConfigureAwait(false);
        await StopPublishingAsync().ConfigureAwait(false);
        await StopDeliveryAsync().ConfigureAwait(false);
        await StopHeartbeatsAsync().ConfigureAwait(false);
        if (_redis is { } redis)
        {
            redis.ConnectionFailed -= OnConnectionFailed;
            redis.ConnectionRestored -= OnConnectionRestored;
            await redis.DisposeAsync().ConfigureAwait(false);
        }
        _stopping.Dispose();
    }

    private bool IsHealthy() =>
        _redis is { IsConnected: true } redis && _queue is not null && redis.GetSubscriber().IsConnected(_keys.Events);

    private async Task<RedisResult> EvaluateAsync(string script, RedisKey[] keys, RedisValue[] args, string what)
    {
        var redis = ConnectedRedis(what);
        try
        {
            return await redis.GetDatabase().ScriptEvaluateAsync(script, keys, args).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            throw Unavailable(what, ex);
        }
    }

    private ConnectionMultiplexer ConnectedRedis(string what)
    {
        var redis = _redis ?? throw new InvalidOperationException("The engine has not been started.");
        if (!redis.IsConnected)
            throw Unavailable(what, null);
        return redis;
    }

    private static string NewEpoch() => RandomNumberGenerator.GetHexString(12, lowercase: true);

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        _logger.ConnectionFailed(e.Exception, e.ConnectionType, e.EndPoint, e.FailureType);
        if (e.ConnectionType == ConnectionType.Subscription)
            OnSubscriptionLost(); // RedisEngine.Delivery.cs
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        _logger.ConnectionRestored(e.ConnectionType, e.EndPoint);
        // Redis may have lost this node's counts (a restart): share them all again at the next heartbeat.
        Volatile.Write(ref _writeAll, 1);
        // Learn at once whether Redis lost its data meanwhile (new epoch) and which events this node missed.
        if (e.ConnectionType == ConnectionType.Subscription)
            _ = RequestSyncAsync();
    }
}
