using System.Text.Json;
using MoltBeat.WebSocket.Auth;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Rooms;

namespace MoltBeat.WebSocket.Server;

/// <summary>
/// Options of <see cref="MoltBeatWSServer"/> (the seed's <c>WSServerConfig</c> plus our limits).
/// Every limit has a default that is safe on the public internet; each says what happens past it.
/// </summary>
public sealed class WSServerOptions
{
    /// <summary>Port of the standalone server (<see cref="MoltBeatWSServer.StartAsync"/>). Default 3000; 0 picks a free port.</summary>
    public int Port { get; set; } = 3000;

    /// <summary>
    /// Whether the standalone server binds its port with <c>SO_REUSEPORT</c>, so that several servers (processes) share
    /// one port and the kernel spreads connections over them, each within its own open-file limit. They must share an
    /// engine (the Redis engine) to be one deployment. Linux only. Default false. See <c>UseReusePort</c>.
    /// </summary>
    public bool ReusePort { get; set; }

    /// <summary>Address the standalone server binds to. Default <c>127.0.0.1</c>; use <c>0.0.0.0</c> to accept remote clients.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>WebSocket path of the standalone server. Default <c>/ws</c>.</summary>
    public string Path { get; set; } = "/ws";

    /// <summary>How often the server pings each client. A client silent for two intervals is closed with 4010. Default 30 s.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Turns a token into a user, or null to refuse it (close 4001). Null here means no authentication:
    /// every client is accepted without a user. See <see cref="JwtAuthenticator"/> for a ready one.
    /// </summary>
    public Func<string, CancellationToken, ValueTask<WSUser?>>? AuthenticateClient { get; set; }

    /// <summary>Decides whether a client may subscribe to a room; false answers <c>forbidden</c>. Null allows every room.</summary>
    /// <remarks>A subscription to a parent room (<c>agent</c>, <c>all</c>) receives the events of its children, so refuse those when a user may only see some children.</remarks>
    public Func<WSClientInfo, string, CancellationToken, ValueTask<bool>>? AuthorizeSubscription { get; set; }

    /// <summary>How long the standalone server waits for a complete handshake request before it drops the connection (slow or stalled clients). Default 10 s.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a client may take to send its <c>auth</c> message when it gave no token at the handshake; then 4001. Default 10 s.</summary>
    public TimeSpan AuthTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Browser origins allowed to connect (exact match, e.g. <c>https://app.example.com</c>). Empty allows all; a refused handshake gets HTTP 403. Requests without an Origin header (non-browser clients) are always allowed.</summary>
    public IList<string> AllowedOrigins { get; } = [];

    /// <summary>Largest client message. A bigger one closes the connection with 1009. Default 16 KiB.</summary>
    public int MaxMessageSize { get; set; } = 16 * 1024;

    /// <summary>Subscriptions one connection may hold; more are answered <c>too_many_subscriptions</c>. Default 100.</summary>
    public int MaxSubscriptionsPerConnection { get; set; } = 100;

    /// <summary>Open connections the server accepts; further handshakes get HTTP 503. Default 50 000.</summary>
    public int MaxConnections { get; set; } = 50_000;

    /// <summary>Largest serialized payload <see cref="MoltBeatWSServer.Broadcast(string, string, object?)"/> accepts; a bigger one throws and nothing is sent. Default 64 KiB.</summary>
    public int MaxPayloadSize { get; set; } = 64 * 1024;

    /// <summary>Bytes that may wait in one connection's outgoing queue. A client that falls further behind is closed with 4009 (slow consumer) and recovers on reconnect. Default 1 MiB.</summary>
    public int MaxQueuedBytes { get; set; } = 1024 * 1024;

    /// <summary>Messages that may wait in one connection's outgoing queue; past it, as for <see cref="MaxQueuedBytes"/>. Default 10 000.</summary>
    public int MaxQueuedMessages { get; set; } = 10_000;

    /// <summary>Largest frame when a client opted in to batching (<c>batch=1</c>): queued messages are packed up to this size. Default 64 KiB.</summary>
    public int MaxBatchSize { get; set; } = 64 * 1024;

    /// <summary>
    /// Whether the server accepts permessage-deflate (RFC 7692) from clients that offer it (browsers do). Events of at
    /// least <see cref="CompressionThreshold"/> bytes are then compressed once per publish and the same compressed frame
    /// goes to every client that negotiated it; the others get them as before. Default false: see
    /// docs/performance.md (permessage-deflate) for what it costs and saves.
    /// </summary>
    public bool Compression { get; set; }

    /// <summary>
    /// Smallest event message (bytes of JSON) sent compressed when <see cref="Compression"/> is on; smaller ones, and
    /// replies, go uncompressed. Default <see cref="DefaultCompressionThreshold"/>.
    /// </summary>
    public int CompressionThreshold { get; set; } = DefaultCompressionThreshold;

    /// <summary>The default of <see cref="CompressionThreshold"/>: 1 KiB, below which deflate saves a few hundred bytes at most.</summary>
    public const int DefaultCompressionThreshold = 1024;

    /// <summary>
    /// Threads that write to the connections, each owning an even share of them (see the outgoing path in
    /// <c>Server/Outgoing</c>). Default: one per core.
    /// </summary>
    public int FanoutWorkers { get; set; } = Environment.ProcessorCount;

    /// <summary>
    /// Rooms whose names tag the delivery metrics (<c>moltbeat.delivery.latency</c>): an event is counted under the
    /// listed room it was published to or under, else <c>other</c>. Empty (the default): under its room's first
    /// segment (<c>agent:123</c> → <c>agent</c>), at most 64 of them. Bounds the metrics' cardinality.
    /// </summary>
    public IList<string> MetricRooms { get; } = [];

    /// <summary>Messages per second one connection may send on average. Default 50.</summary>
    public int RateLimitPerSecond { get; set; } = 50;

    /// <summary>Messages one connection may send in a burst above the average. Default 100.</summary>
    public int RateLimitBurst { get; set; } = 100;

    /// <summary>Messages refused for rate in a row before the connection is closed with 4008. Default 20.</summary>
    public int RateLimitStrikes { get; set; } = 20;

    /// <summary>Malformed messages in a row before the connection is closed with 1008. Default 10.</summary>
    public int MaxConsecutiveBadRequests { get; set; } = 10;

    /// <summary>How long a close waits for the queued messages to go out and the client's close reply before the connection is cut. Default 5 s.</summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How often the subscriber counts of rooms watched with <c>occupancy</c> (protocol 1.1) are read, and so the most often
    /// an <c>occupancy</c> message is sent per room: only when the count changed. Default and minimum 1 s (the protocol's
    /// "at most once per second"); a larger one costs the engine less (Redis: one script per watched room per interval).
    /// </summary>
    public TimeSpan OccupancyInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Whether this node tracks rooms occupied and vacated (<see cref="MoltBeatWSServer.RoomOccupied"/>,
    /// <see cref="MoltBeatWSServer.RoomVacated"/>) from the start. Adding a handler to either event turns it on too. In a
    /// cluster, turn it on on every node: a node that does not track never marks its rooms occupied. Default false.
    /// </summary>
    public bool TrackRoomOccupancy { get; set; }

    /// <summary>
    /// How long an occupied room must have had no subscriber anywhere before it is vacated: a dashboard that reconnects
    /// within it raises neither event. With Redis it is at least three node heartbeats. Default 5 s.
    /// </summary>
    public TimeSpan RoomVacatedAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>History bounds for the default in-memory engine.</summary>
    public HistoryOptions History { get; set; } = new();

    /// <summary>How payloads are serialized. Default: web defaults (camelCase).</summary>
    public JsonSerializerOptions JsonSerializerOptions { get; set; } = new(JsonSerializerDefaults.Web);

    /// <summary>Throws a clear exception for a setting that makes no sense.</summary>
    /// <exception cref="ArgumentException">A setting is out of range.</exception>
    public void Validate()
    {
        if (string.IsNullOrEmpty(Path) || Path[0] != '/')
            throw new ArgumentException($"Path must start with '/': '{Path}'.", nameof(Path));
        ArgumentOutOfRangeException.ThrowIfNegative(Port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Port, 65535);
        Positive(HeartbeatInterval, nameof(HeartbeatInterval));
        Positive(AuthTimeout, nameof(AuthTimeout));
        Positive(HandshakeTimeout, nameof(HandshakeTimeout));
        Positive(CloseTimeout, nameof(CloseTimeout));
        Positive(RoomVacatedAfter, nameof(RoomVacatedAfter));
        if (OccupancyInterval < TimeSpan.FromSeconds(1))
            throw new ArgumentOutOfRangeException(nameof(OccupancyInterval), OccupancyInterval, "OccupancyInterval must be at least 1 s: occupancy messages are sent at most once per second per room.");
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxMessageSize, 128);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxSubscriptionsPerConnection, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConnections, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPayloadSize, 16);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxQueuedBytes, MaxPayloadSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxQueuedMessages, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBatchSize, 1024);
        ArgumentOutOfRangeException.ThrowIfNegative(CompressionThreshold);
        ArgumentOutOfRangeException.ThrowIfLessThan(FanoutWorkers, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(FanoutWorkers, 256);
        ArgumentOutOfRangeException.ThrowIfLessThan(RateLimitPerSecond, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(RateLimitBurst, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(RateLimitStrikes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConsecutiveBadRequests, 1);
        foreach (var room in MetricRooms)
            RoomName.EnsureValid(room, nameof(MetricRooms));
        History.Validate();
    }

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive.");
    }
}
