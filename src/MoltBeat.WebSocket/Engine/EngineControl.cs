using MoltBeat.WebSocket.Rooms;

namespace MoltBeat.WebSocket.Engine;

/// <summary>What an <see cref="EngineControl"/> asks every node to do.</summary>
public enum EngineControlKind
{
    /// <summary>
    /// Close every connection of <see cref="EngineControl.UserId"/> with 4003 (<c>revoked</c>), and refuse that user's
    /// tokens issued before <see cref="EngineControl.At"/> (and those without <c>iat</c>) for <see cref="EngineControl.RevocationKept"/>.
    /// </summary>
    RevokeUser,

    /// <summary>
    /// Remove <see cref="EngineControl.UserId"/>'s subscriptions to <see cref="EngineControl.Room"/> and the rooms below it,
    /// telling the client with <c>unsubscribed</c> and the reason <c>revoked</c>.
    /// </summary>
    UnsubscribeUser,
}

/// <summary>
/// An operator's instruction that every node applies to its own connections (protocol 1.1, "Revocation"). It travels
/// the way events do (<see cref="IMoltBeatEngine.PublishControlAsync"/> to every node's <see cref="IEventSink.Control"/>),
/// but it is not an event: clients never receive it as such, and no history records it.
/// </summary>
public sealed class EngineControl
{
    /// <summary>
    /// How long a revocation is kept: the user's tokens issued before it are refused for this long after it (24 hours).
    /// A token of that user that is still valid later is accepted again; give tokens a shorter life than this.
    /// </summary>
    public static readonly TimeSpan RevocationKept = TimeSpan.FromHours(24);

    /// <summary>The longest user id a control accepts (it becomes part of a key in shared engines).</summary>
    public const int MaxUserIdLength = 512;

    private EngineControl(EngineControlKind kind, string userId, string? room, DateTimeOffset at)
    {
        Kind = kind;
        UserId = userId;
        Room = room;
        At = at;
    }

    /// <summary>What to do.</summary>
    public EngineControlKind Kind { get; }

    /// <summary>The user it applies to (<c>WSUser.UserId</c>).</summary>
    public string UserId { get; }

    /// <summary>The room for <see cref="EngineControlKind.UnsubscribeUser"/>; null for <see cref="EngineControlKind.RevokeUser"/>.</summary>
    public string? Room { get; }

    /// <summary>When the operator asked for it (the revoking node's clock): a revocation refuses tokens issued before this instant.</summary>
    public DateTimeOffset At { get; }

    /// <summary>A revocation of <paramref name="userId"/> at <paramref name="at"/>.</summary>
    /// <exception cref="ArgumentException">The user id is empty or longer than <see cref="MaxUserIdLength"/>.</exception>
    public static EngineControl RevokeUser(string userId, DateTimeOffset at) =>
        new(EngineControlKind.RevokeUser, ValidUserId(userId), null, at);

    /// <summary>The removal of <paramref name="userId"/>'s subscriptions to <paramref name="room"/> and its subtree.</summary>
    /// <exception cref="ArgumentException">The user id is empty or too long, or the room name is invalid.</exception>
    public static EngineControl UnsubscribeUser(string userId, string room, DateTimeOffset at)
    {
        RoomName.EnsureValid(room);
        return new(EngineControlKind.UnsubscribeUser, ValidUserId(userId), room, at);
    }

    /// <summary>Whether a subscription to <paramref name="subscribed"/> is one an <see cref="EngineControlKind.UnsubscribeUser"/> removes: its room, or a room below it.</summary>
    public bool Covers(string subscribed)
    {
        ArgumentNullException.ThrowIfNull(subscribed);
        return Room is { } room && RoomName.IsWithin(subscribed, room);
    }

    /// <summary>
    /// Whether a revocation made at <paramref name="revokedAt"/> refuses a token issued at <paramref name="issuedAt"/>:
    /// one issued before it, or one that does not say when it was issued (null).
    /// </summary>
    /// <remarks><c>iat</c> has whole seconds, so a token issued in the same second as the revocation, even just after it, is refused too.</remarks>
    public static bool Refuses(DateTimeOffset revokedAt, DateTimeOffset? issuedAt) => issuedAt is not { } iat || iat < revokedAt;

    private static string ValidUserId(string userId)
    {
        if (string.IsNullOrEmpty(userId) || userId.Length > MaxUserIdLength)
            throw new ArgumentException($"A user id is 1-{MaxUserIdLength} characters.", nameof(userId));
        return userId;
    }
}
