using MoltBeat.WebSocket.Engine;

namespace MoltBeat.WebSocket.Server;

public sealed partial class MoltBeatWSServer
{
    /// <summary>
    /// Revokes a user on every node (protocol 1.1, <c>POST /api/revoke</c>): each connection of
    /// <paramref name="userId"/> (<see cref="Auth.WSUser.UserId"/>) is closed with 4003 <c>revoked</c> at once, what was
    /// still queued for it dropped, and for <see cref="EngineControl.RevocationKept"/> (24 hours) that user's tokens issued
    /// before now are refused with 4001, at connect and at an <c>auth</c> refresh, whatever the authenticator says.
    /// </summary>
    /// <remarks>
    /// <para>
    /// A token is judged by its <see cref="Auth.WSUser.IssuedAt"/> (<c>iat</c>, whole seconds): one issued in the same
    /// second as the revocation is refused too, and so is a token without <c>iat</c> for as long as the revocation is
    /// kept. Issue the user's new token at least a second later. After 24 hours, a token issued before the revocation
    /// that is still valid is accepted again: keep tokens' lives shorter than that.
    /// </para>
    /// <para>
    /// With one node this completes once its connections are closing. With a shared engine (Redis) it completes once the
    /// revocation is kept there and published: every node closes the user's connections as it receives the message,
    /// within a pub/sub hop, and a node that starts later (or missed the message) finds it when a connection of that
    /// user authenticates. Connections without a user (no authenticator) are never affected.
    /// </para>
    /// </remarks>
    /// <exception cref="ArgumentException">The user id is empty or longer than <see cref="EngineControl.MaxUserIdLength"/>.</exception>
    /// <exception cref="EngineUnavailableException">The engine cannot publish now (Redis unreachable); nothing was revoked.</exception>
    public async Task RevokeUserAsync(string userId, CancellationToken cancellationToken = default)
    {
        var control = EngineControl.RevokeUser(userId, Time.GetUtcNow());
        await _engineStarted.Value.ConfigureAwait(false);
        await Engine.PublishControlAsync(control, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Removes a user's subscriptions to <paramref name="room"/> and to the rooms below it (<c>room:...</c>) on every node
    /// (protocol 1.1, <c>POST /api/unsubscribe</c>): each is told with
    /// <c>{"type":"unsubscribed","room":"...","reason":"revoked"}</c>, and no event of such a room reaches it after that
    /// message. Its other subscriptions keep flowing, and the connection stays open.
    /// </summary>
    /// <remarks>
    /// Only subscriptions that exist when the message reaches a node are removed (one being made then completes, then is
    /// removed). The user may subscribe again unless the application refuses it (<see cref="WSServerOptions.AuthorizeSubscription"/>,
    /// the token's rooms): this is the "stop now" that goes with that change. A subscription to a room above
    /// <paramref name="room"/> (its parent, or <c>all</c>) is not removed and still carries its events. Completes when the
    /// engine has published it (see <see cref="RevokeUserAsync"/>); each connection applies it between two of its requests.
    /// </remarks>
    /// <exception cref="ArgumentException">The user id is empty or too long, or the room name is invalid.</exception>
    /// <exception cref="EngineUnavailableException">The engine cannot publish now (Redis unreachable); nothing was removed.</exception>
    public async Task UnsubscribeUserAsync(string userId, string room, CancellationToken cancellationToken = default)
    {
        var control = EngineControl.UnsubscribeUser(userId, room, Time.GetUtcNow());
        await _engineStarted.Value.ConfigureAwait(false);
        await Engine.PublishControlAsync(control, cancellationToken).ConfigureAwait(false);
    }
}
