namespace MoltBeat.WebSocket.Protocol;

/// <summary>
/// The field names of protocol v1 messages (docs/protocol.md), as UTF-8: one place for what the server writes,
/// the server's parser reads, and the .NET client both writes and reads.
/// </summary>
internal static class WireNames
{
    /// <summary>The connection's id (<c>connected</c>).</summary>
    public static ReadOnlySpan<byte> ClientId => "clientId"u8;

    /// <summary>An error's code (<c>error</c>).</summary>
    public static ReadOnlySpan<byte> Code => "code"u8;

    /// <summary>An event's payload.</summary>
    public static ReadOnlySpan<byte> Data => "data"u8;

    /// <summary>Whether a publish repeated an idempotency key seen within the window, so nothing was published (revision 1.1).</summary>
    public static ReadOnlySpan<byte> Duplicate => "duplicate"u8;

    /// <summary>A room's epoch (<c>subscribed</c>, <c>since</c>).</summary>
    public static ReadOnlySpan<byte> Epoch => "epoch"u8;

    /// <summary>An event's name.</summary>
    public static ReadOnlySpan<byte> Event => "event"u8;

    /// <summary>When a refreshed token expires, ms since the Unix epoch (<c>authenticated</c>).</summary>
    public static ReadOnlySpan<byte> ExpiresAt => "expiresAt"u8;

    /// <summary>The server's heartbeat interval in ms (<c>connected</c>).</summary>
    public static ReadOnlySpan<byte> HeartbeatInterval => "heartbeatInterval"u8;

    /// <summary>A publish's idempotency key (revision 1.1): a repeat within the window is not published again.</summary>
    public static ReadOnlySpan<byte> IdempotencyKey => "idempotencyKey"u8;

    /// <summary>A request's id, echoed by its reply.</summary>
    public static ReadOnlySpan<byte> Id => "id"u8;

    /// <summary>How many of the room's most recent events a <c>subscribe</c> asks to be sent after <c>subscribed</c> (revision 1.1).</summary>
    public static ReadOnlySpan<byte> Last => "last"u8;

    /// <summary>An error's human-readable text.</summary>
    public static ReadOnlySpan<byte> Message => "message"u8;

    /// <summary>A position in a room (<c>subscribed</c>, <c>since</c>).</summary>
    public static ReadOnlySpan<byte> Offset => "offset"u8;

    /// <summary>An event's offset in every room it was recorded in (<c>all</c> included).</summary>
    public static ReadOnlySpan<byte> Offsets => "offsets"u8;

    /// <summary>The protocol version (<c>connected</c>).</summary>
    public static ReadOnlySpan<byte> Protocol => "protocol"u8;

    /// <summary>Whether a <c>since</c> was honoured (<c>subscribed</c>).</summary>
    public static ReadOnlySpan<byte> Recovered => "recovered"u8;

    /// <summary>Why the server removed a subscription by itself (<c>unsubscribed</c>, revision 1.1).</summary>
    public static ReadOnlySpan<byte> Reason => "reason"u8;

    /// <summary>How many events follow <c>subscribed</c> before the first live one (revision 1.1, with <c>since</c> or <c>last</c>).</summary>
    public static ReadOnlySpan<byte> Replay => "replay"u8;

    /// <summary>A room name.</summary>
    public static ReadOnlySpan<byte> Room => "room"u8;

    /// <summary>Every room of a multi-room publish.</summary>
    public static ReadOnlySpan<byte> Rooms => "rooms"u8;

    /// <summary>Where a resubscription recovers from.</summary>
    public static ReadOnlySpan<byte> Since => "since"u8;

    /// <summary>A JWT (<c>auth</c>).</summary>
    public static ReadOnlySpan<byte> Token => "token"u8;

    /// <summary>Server time of publication, ms since the Unix epoch.</summary>
    public static ReadOnlySpan<byte> Ts => "ts"u8;

    /// <summary>Every message's type (<see cref="MessageTypes"/>).</summary>
    public static ReadOnlySpan<byte> Type => "type"u8;

    /// <summary>The authenticated user's claims (<c>connected</c>).</summary>
    public static ReadOnlySpan<byte> User => "user"u8;

    /// <summary>How many older events of the same room, event name and key a delivered event replaced (revision 1.1, conflation).</summary>
    public static ReadOnlySpan<byte> Conflated => "conflated"u8;

    /// <summary>A publish's conflation key, carried on its event (revision 1.1).</summary>
    public static ReadOnlySpan<byte> Key => "key"u8;

    /// <summary>The most events per second and conflation key a <c>subscribe</c> asks for (revision 1.1).</summary>
    public static ReadOnlySpan<byte> MaxRate => "maxRate"u8;

    /// <summary>Whether a <c>subscribe</c> asks for the room's subscriber counts (revision 1.1).</summary>
    public static ReadOnlySpan<byte> Occupancy => "occupancy"u8;

    /// <summary>A room's subscribers across every node (<c>occupancy</c>, revision 1.1).</summary>
    public static ReadOnlySpan<byte> Subscribers => "subscribers"u8;
}
