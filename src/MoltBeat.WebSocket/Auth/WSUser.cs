namespace MoltBeat.WebSocket.Auth;

/// <summary>
/// Who a connection belongs to, as the authenticator found it (the seed's <c>{ userId }</c>).
/// </summary>
/// <param name="UserId">The user's id, sent to the client in <c>connected.user.userId</c>.</param>
public sealed record WSUser(string UserId)
{
    /// <summary>When the token stops being valid; the server closes the connection with 4001 then unless it is refreshed. Null: never.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>When the token was issued (<c>iat</c>); a revocation refuses the user's tokens issued before it. Null: unknown, and then refused while a revocation of the user is kept (24 h).</summary>
    public DateTimeOffset? IssuedAt { get; init; }

    /// <summary>
    /// The rooms this user may subscribe to (the token's <c>rooms</c> claim); the server refuses every other room
    /// with <c>forbidden</c>, before <see cref="Server.WSServerOptions.AuthorizeSubscription"/> is asked. Null: no
    /// such claim, the server's other rules apply.
    /// </summary>
    public RoomPermissions? Rooms { get; init; }

    /// <summary>Further claims the authorization hook may use (roles, tenants…). Not sent to the client.</summary>
    public IReadOnlyDictionary<string, string> Claims { get; init; } = new Dictionary<string, string>();
}
