namespace MoltBeat.WebSocket.Protocol;

/// <summary>The <c>type</c> values of protocol v1 messages, in both directions.</summary>
public static class MessageTypes
{
    /// <summary>The protocol version this library speaks, sent in <c>connected</c>.</summary>
    public const int ProtocolVersion = 1;

    /// <summary>Server → client: the first message after a successful handshake.</summary>
    public const string Connected = "connected";

    /// <summary>Server → client: a published event.</summary>
    public const string Event = "event";

    /// <summary>Server → client: reply to <c>subscribe</c>.</summary>
    public const string Subscribed = "subscribed";

    /// <summary>Server → client: reply to <c>unsubscribe</c>.</summary>
    public const string Unsubscribed = "unsubscribed";

    /// <summary>Server → client: reply to <c>ping</c>.</summary>
    public const string Pong = "pong";

    /// <summary>Server → client: reply to a token refresh.</summary>
    public const string Authenticated = "authenticated";

    /// <summary>Server → client: a request failed.</summary>
    public const string Error = "error";

    /// <summary>Server → client: a room's subscriber count across every node, for a subscription that asked (revision 1.1).</summary>
    public const string Occupancy = "occupancy";

    /// <summary>Client → server: join a room.</summary>
    public const string Subscribe = "subscribe";

    /// <summary>Client → server: leave a room.</summary>
    public const string Unsubscribe = "unsubscribe";

    /// <summary>Client → server: application-level heartbeat.</summary>
    public const string Ping = "ping";

    /// <summary>Client → server: authenticate, or replace the token.</summary>
    public const string Auth = "auth";
}
