using MoltBeat.WebSocket.Auth;

namespace MoltBeat.WebSocket.Server;

/// <summary>The token's room rights (<see cref="WSUser.Rooms"/>) as a ready subscription rule.</summary>
public static class RoomAuthorization
{
    /// <summary>
    /// Whether the client's token allows <paramref name="room"/> (<see cref="RoomPermissions"/>); true when the token
    /// has no <c>rooms</c> claim. The server applies this rule itself before
    /// <see cref="WSServerOptions.AuthorizeSubscription"/>, on every subscribe and after every token refresh; an
    /// application uses it where it checks rights on its own, e.g. in its own HTTP endpoints, or in a hook that
    /// combines it with other rules. An application with its own authenticator gets the rule by setting
    /// <see cref="WSUser.Rooms"/> on the users it returns.
    /// </summary>
    public static ValueTask<bool> AuthorizeSubscription(WSClientInfo client, string room, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(room);
        return ValueTask.FromResult(client.User?.Rooms is not { } rights || rights.Allows(room));
    }
}
