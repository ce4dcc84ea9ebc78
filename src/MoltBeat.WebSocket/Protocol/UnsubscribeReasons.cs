namespace MoltBeat.WebSocket.Protocol;

/// <summary>
/// The <c>reason</c> of an <c>unsubscribed</c> the server sends by itself (protocol revision 1.1): it removed a
/// subscription without being asked. Clients surface it and do not resubscribe by themselves.
/// </summary>
public static class UnsubscribeReasons
{
    /// <summary>The connection's token no longer allows the room (after an <c>auth</c> refresh).</summary>
    public const string Forbidden = "forbidden";

    /// <summary>An operator removed the user's subscriptions to the room (<c>POST /api/unsubscribe</c>).</summary>
    public const string Revoked = "revoked";
}
