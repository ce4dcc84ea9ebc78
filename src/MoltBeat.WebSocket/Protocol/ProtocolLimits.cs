namespace MoltBeat.WebSocket.Protocol;

/// <summary>The bounds that protocol revision 1.1 puts on request fields, shared by the server, the .NET client and (generated) the JS client.</summary>
public static class ProtocolLimits
{
    /// <summary>The most events a <c>subscribe</c> may ask with <c>last</c> (0 to this).</summary>
    public const int MaxLast = 100;

    /// <summary>
    /// The highest <c>maxRate</c> a <c>subscribe</c> may ask (events per second and conflation key; above 0 up to this): a rate a
    /// person can read is far below it, and a higher one would only keep timers busy.
    /// </summary>
    public const int MaxRate = 1000;

    /// <summary>The longest <c>key</c> (conflation) or <c>idempotencyKey</c> of a publish, in characters (1 to this).</summary>
    public const int MaxKeyLength = 128;

    /// <summary>How long a publish's <c>idempotencyKey</c> is remembered: a repeat within it is not published again.</summary>
    public static readonly TimeSpan IdempotencyWindow = TimeSpan.FromMinutes(5);
}
