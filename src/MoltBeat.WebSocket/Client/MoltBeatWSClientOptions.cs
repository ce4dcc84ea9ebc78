using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace MoltBeat.WebSocket.Client;

/// <summary>
/// Options of <see cref="MoltBeatWSClient"/> (the seed's <c>WSClientConfig</c> plus token refresh,
/// backoff cap and injected time). Each says its default and what it changes.
/// </summary>
public sealed class MoltBeatWSClientOptions
{
    /// <summary>The server's WebSocket URL, e.g. <c>ws://localhost:3000/ws</c>. Required. The client adds <c>batch=1</c> and <c>token=</c> to its query.</summary>
    public Uri? Url { get; set; }

    /// <summary>A fixed token (JWT) sent at every connect. Ignored when <see cref="TokenProvider"/> is set.</summary>
    public string? Token { get; set; }

    /// <summary>
    /// Gets a token before each (re)connect and shortly before the current token expires, when it is
    /// refreshed on the open connection with an <c>auth</c> message. After a close with 4001 (unauthorized, token
    /// expired) or 4003 (revoked) the client reconnects only when this yields a token different from every token the
    /// server refused so far: a refused or revoked token is never sent again. Null: <see cref="Token"/> is used.
    /// </summary>
    public Func<CancellationToken, ValueTask<string?>>? TokenProvider { get; set; }

    /// <summary>
    /// How long before a token's expiry it is refreshed (needs <see cref="TokenProvider"/>). A token that lives
    /// less than twice this is refreshed halfway through its remaining life. Default 30 s.
    /// </summary>
    public TimeSpan TokenRefreshMargin { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Whether a lost connection is re-established (and its rooms resubscribed and recovered). Default true.</summary>
    public bool AutoReconnect { get; set; } = true;

    /// <summary>Base of the exponential reconnect backoff: attempt n waits a random time in [0, min(this × 2ⁿ, <see cref="MaxReconnectDelay"/>)]. Default 5 s.</summary>
    public TimeSpan ReconnectInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Reconnect attempts per outage before giving up with <see cref="MoltBeatWSClient.ReconnectFailed"/>. Default 10.</summary>
    public int MaxReconnectAttempts { get; set; } = 10;

    /// <summary>Cap of one backoff delay. Default 30 s.</summary>
    public TimeSpan MaxReconnectDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How often the client sends a <c>ping</c> message. When nothing at all (not even the <c>pong</c>) arrives
    /// within one interval after a ping, the connection is considered dead, aborted and reconnected. Default 30 s.
    /// </summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long <see cref="MoltBeatWSClient.ConnectAsync"/> (handshake plus the server's <c>connected</c>) may take. Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Events that may wait for the application's handlers (and for each <see cref="MoltBeatWSClient.ReadEventsAsync"/>
    /// reader). When full, the client stops reading the socket until handlers catch up; the server then holds or
    /// drops the backlog, and a dropped connection recovers on reconnect. Default 10 000.
    /// </summary>
    public int EventBufferCapacity { get; set; } = 10_000;

    /// <summary>Event ids (<c>offsets.all</c>) remembered to drop duplicates after a recovery. Default 4096.</summary>
    public int DeduplicationWindow { get; set; } = 4096;

    /// <summary>
    /// Whether a room whose epoch changed while the client was away (the server restarted, or lost its history)
    /// is replayed from the new epoch's start: every event of it was published while the client was away.
    /// Recorded events are held meanwhile, so the application still sees them once and in order. Default true.
    /// </summary>
    public bool RecoverNewEpoch { get; set; } = true;

    /// <summary>Longest time events are held back while such a replay runs; then they are delivered as they are. Default 10 s.</summary>
    public TimeSpan CatchupTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Overrides the reconnect delays; null uses <see cref="ExponentialBackoffRetryPolicy"/> built from the options above.</summary>
    public IMoltBeatRetryPolicy? RetryPolicy { get; set; }

    /// <summary>How event data is deserialized for typed handlers. Default: web defaults (camelCase), as the server serializes.</summary>
    public JsonSerializerOptions JsonSerializerOptions { get; set; } = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// Whether to offer permessage-deflate (RFC 7692) when connecting. Default true: offering costs nothing, and only a
    /// server that enables compression (<see cref="Server.WSServerOptions.Compression"/>) accepts it, and then sends its
    /// big events compressed, as it does to browsers (which always offer it). Such a server asks for no context takeover
    /// both ways, so the socket keeps no compression state between messages. False: never compressed.
    /// </summary>
    public bool Compression { get; set; } = true;

    /// <summary>Adjusts each <see cref="ClientWebSocket"/> before it connects (headers, proxy, certificates).</summary>
    public Action<ClientWebSocketOptions>? ConfigureWebSocket { get; set; }

    /// <summary>The clock for heartbeats, backoff and token expiry. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Logging; none when null. Tokens are never logged.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>Throws a clear exception for a setting that makes no sense.</summary>
    /// <exception cref="ArgumentException">A setting is missing or out of range.</exception>
    public void Validate()
    {
        if (Url is null)
            throw new ArgumentException("Url is required, e.g. ws://localhost:3000/ws.", nameof(Url));
        if (!Url.IsAbsoluteUri || Url.Scheme is not ("ws" or "wss" or "http" or "https"))
            throw new ArgumentException($"Url must be an absolute ws:// or wss:// URL: '{Url}'.", nameof(Url));
        Positive(ReconnectInterval, nameof(ReconnectInterval));
        Positive(MaxReconnectDelay, nameof(MaxReconnectDelay));
        Positive(HeartbeatInterval, nameof(HeartbeatInterval));
        Positive(ConnectTimeout, nameof(ConnectTimeout));
        Positive(TokenRefreshMargin, nameof(TokenRefreshMargin));
        Positive(CatchupTimeout, nameof(CatchupTimeout));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxReconnectAttempts);
        ArgumentOutOfRangeException.ThrowIfLessThan(EventBufferCapacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(DeduplicationWindow, 0);
        ArgumentNullException.ThrowIfNull(JsonSerializerOptions);
        ArgumentNullException.ThrowIfNull(TimeProvider);
    }

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive.");
    }
}
