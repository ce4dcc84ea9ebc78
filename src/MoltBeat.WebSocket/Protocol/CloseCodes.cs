namespace MoltBeat.WebSocket.Protocol;

/// <summary>What a client should do after the server closed its connection with a given code.</summary>
public enum ReconnectAdvice
{
    /// <summary>Do not reconnect (the close was intended, or the client must be fixed first).</summary>
    DoNotReconnect,

    /// <summary>Reconnect with exponential backoff and recover missed events.</summary>
    ReconnectWithBackoff,

    /// <summary>Reconnect at once and recover missed events.</summary>
    ReconnectNow,

    /// <summary>Get a new token first; reconnecting with the same token is pointless.</summary>
    NewTokenRequired,
}

/// <summary>One close code of protocol v1: its number, its reason text, and what a client should do.</summary>
/// <param name="Code">The WebSocket close code.</param>
/// <param name="Reason">The short reason the server sends with the code.</param>
/// <param name="Advice">Whether and how a client reconnects after it.</param>
public sealed record CloseCode(int Code, string Reason, ReconnectAdvice Advice);

/// <summary>
/// The close codes of protocol v1 as one typed table, shared by the server and the .NET client so
/// that both agree on whether a close means "reconnect" (see protocol.md, "Close codes").
/// </summary>
public static class CloseCodes
{
    /// <summary>1000: normal close.</summary>
    public static readonly CloseCode Normal = new(1000, "normal", ReconnectAdvice.DoNotReconnect);

    /// <summary>1001: server going away (shutdown, restart).</summary>
    public static readonly CloseCode GoingAway = new(1001, "going_away", ReconnectAdvice.ReconnectWithBackoff);

    /// <summary>1002: WebSocket protocol error.</summary>
    public static readonly CloseCode ProtocolError = new(1002, "protocol_error", ReconnectAdvice.DoNotReconnect);

    /// <summary>1003: binary frame received.</summary>
    public static readonly CloseCode BinaryNotSupported = new(1003, "binary_not_supported", ReconnectAdvice.DoNotReconnect);

    /// <summary>1007: text frame that is not valid UTF-8.</summary>
    public static readonly CloseCode InvalidPayload = new(1007, "invalid_utf8", ReconnectAdvice.DoNotReconnect);

    /// <summary>1008: policy violation (repeated bad requests).</summary>
    public static readonly CloseCode PolicyViolation = new(1008, "policy_violation", ReconnectAdvice.DoNotReconnect);

    /// <summary>1009: client message over the size limit.</summary>
    public static readonly CloseCode MessageTooBig = new(1009, "message_too_big", ReconnectAdvice.DoNotReconnect);

    /// <summary>1011: internal server error.</summary>
    public static readonly CloseCode InternalError = new(1011, "internal_error", ReconnectAdvice.ReconnectWithBackoff);

    /// <summary>4001: unauthorized, or the token expired.</summary>
    public static readonly CloseCode Unauthorized = new(4001, "unauthorized", ReconnectAdvice.NewTokenRequired);

    /// <summary>4001 with the reason <c>token_expired</c>: the token's <c>exp</c> passed without refresh.</summary>
    public static readonly CloseCode TokenExpired = new(4001, "token_expired", ReconnectAdvice.NewTokenRequired);

    /// <summary>
    /// 4003: revoked by an operator (protocol 1.1, <c>POST /api/revoke</c>): the user's tokens issued before it are
    /// refused from now on. Get a new token first; never reuse the old one.
    /// </summary>
    public static readonly CloseCode Revoked = new(4003, "revoked", ReconnectAdvice.NewTokenRequired);

    /// <summary>4008: rate limit exceeded repeatedly.</summary>
    public static readonly CloseCode RateLimited = new(4008, "rate_limited", ReconnectAdvice.ReconnectWithBackoff);

    /// <summary>4009: slow consumer, the client fell too far behind.</summary>
    public static readonly CloseCode SlowConsumer = new(4009, "slow_consumer", ReconnectAdvice.ReconnectNow);

    /// <summary>4010: heartbeat timeout.</summary>
    public static readonly CloseCode HeartbeatTimeout = new(4010, "heartbeat_timeout", ReconnectAdvice.ReconnectWithBackoff);

    private static readonly Dictionary<int, CloseCode> ByCode = new[]
    {
        Normal, GoingAway, ProtocolError, BinaryNotSupported, InvalidPayload, PolicyViolation,
        MessageTooBig, InternalError, Unauthorized, Revoked, RateLimited, SlowConsumer, HeartbeatTimeout,
    }.ToDictionary(c => c.Code);

    /// <summary>
    /// What a client should do after a close with <paramref name="code"/>. Codes outside the table
    /// (including 1006, an abnormal close without a close frame) mean "reconnect with backoff".
    /// </summary>
    public static ReconnectAdvice AdviceFor(int? code) =>
        code is { } c && ByCode.TryGetValue(c, out var known) ? known.Advice : ReconnectAdvice.ReconnectWithBackoff;
}
