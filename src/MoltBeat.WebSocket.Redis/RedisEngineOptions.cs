using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Redis;

/// <summary>How a <see cref="RedisEngine"/> reaches Redis and what it keeps there.</summary>
public sealed class RedisEngineOptions
{
    /// <summary>
    /// The StackExchange.Redis configuration string, e.g. <c>127.0.0.1:6379</c> or
    /// <c>redis1:6379,password=...,ssl=true</c>. Default <c>127.0.0.1:6379</c>.
    /// </summary>
    public string Configuration { get; set; } = "127.0.0.1:6379";

    /// <summary>
    /// Prefix of every key and of the pub/sub channel. Servers that should share rooms use the same
    /// prefix; different prefixes on one Redis are independent deployments. Default <c>moltbeat</c>.
    /// 1-64 characters, no braces (the prefix becomes the keys' cluster hash tag).
    /// </summary>
    public string KeyPrefix { get; set; } = "moltbeat";

    /// <summary>
    /// History bounds per room, enforced in Redis. Null takes the server's
    /// <c>WSServerOptions.History</c> when registered through <c>AddRedisEngine</c>, else the defaults
    /// (1000 events, 5 minutes). Every node of one deployment must use the same bounds.
    /// </summary>
    public HistoryOptions? History { get; set; }

    /// <summary>
    /// How long one Redis call may take before it fails (within about 1.25 times it: the multiplexer looks for timed-out
    /// calls every quarter of it). A publish that times out fails with <see cref="EngineUnavailableException"/>, and
    /// whether Redis recorded it is then unknown: Redis may run it later (after a pause), so retry with the same
    /// idempotency key. Default 2 s.
    /// </summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long a room's epoch and offset stay in Redis after its last publish or subscribe. After that
    /// the room starts again at a new epoch, so a client that kept a position for longer is answered
    /// <c>recovered:false</c> (its history had aged out long before). Bounds the keys of rooms nobody
    /// uses any more, e.g. entity rooms. Default 24 hours.
    /// </summary>
    public TimeSpan RoomIdleExpiry { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// How long a subscribe waits for this node to receive, through pub/sub, the events that Redis
    /// recorded before it read the room; past it the node asks Redis for a sync marker so that events it
    /// will never receive (lost while its subscription was down) stop holding the subscribe. Default 200 ms.
    /// </summary>
    public TimeSpan CatchUpDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// How long a publish's idempotency key is remembered in Redis, with the message it published: a repeat within it, on
    /// any node, is not published again and gets the first publish's offsets. Every node of one deployment must use the
    /// same window. Each keyed publish costs one key of about its event's size for this long. Default
    /// <see cref="ProtocolLimits.IdempotencyWindow"/> (5 minutes, what protocol 1.1 promises clients); at least 1 ms.
    /// </summary>
    public TimeSpan IdempotencyWindow { get; set; } = ProtocolLimits.IdempotencyWindow;

    /// <summary>
    /// How often this node tells Redis it is live and shares the subscriber counts of its rooms that changed, for the
    /// counts across nodes (<see cref="IMoltBeatEngine.GetSubscribersAsync"/>). A node missing three heartbeats is no
    /// longer counted. Every node of one deployment must use the same heartbeat. Default 1 s; at least 10 ms.
    /// </summary>
    public TimeSpan NodeHeartbeat { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How old the history figures of <see cref="RedisEngine.GetStats"/> may be before a call counts them again in Redis (in
    /// the background: the call answers the last count). A count costs Redis a <c>SCAN</c> of its keys and two commands
    /// per room with history, once per node and interval while something reads the stats. Default 10 s; at least 10 ms.
    /// </summary>
    public TimeSpan HistoryStatsMaxAge { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Throws a clear exception for values that make no sense.</summary>
    /// <exception cref="ArgumentException">An option is empty or out of range.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Configuration))
            throw new ArgumentException("The Redis configuration string is empty.", nameof(Configuration));
        if (string.IsNullOrEmpty(KeyPrefix) || KeyPrefix.Length > 64 || KeyPrefix.AsSpan().IndexOfAny('{', '}') >= 0)
            throw new ArgumentException("The key prefix is 1-64 characters without braces.", nameof(KeyPrefix));
        if (OperationTimeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(OperationTimeout), OperationTimeout, "The operation timeout must be positive.");
        if (RoomIdleExpiry < TimeSpan.FromSeconds(1))
            throw new ArgumentOutOfRangeException(nameof(RoomIdleExpiry), RoomIdleExpiry, "Rooms must be kept for at least one second.");
        if (CatchUpDelay <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(CatchUpDelay), CatchUpDelay, "The catch-up delay must be positive.");
        if (IdempotencyWindow < TimeSpan.FromMilliseconds(1))
            throw new ArgumentOutOfRangeException(nameof(IdempotencyWindow), IdempotencyWindow, "The idempotency window must be at least 1 ms.");
        if (NodeHeartbeat < TimeSpan.FromMilliseconds(10))
            throw new ArgumentOutOfRangeException(nameof(NodeHeartbeat), NodeHeartbeat, "The node heartbeat must be at least 10 ms.");
        if (HistoryStatsMaxAge < TimeSpan.FromMilliseconds(10))
            throw new ArgumentOutOfRangeException(nameof(HistoryStatsMaxAge), HistoryStatsMaxAge, "The history figures' age must be at least 10 ms.");
        History?.Validate();
    }
}
