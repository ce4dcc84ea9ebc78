using System.Text.Json;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Client;

/// <summary>The server's <c>connected</c> message.</summary>
/// <param name="ClientId">The connection's id on the server (changes at every reconnect).</param>
/// <param name="User">The authenticated user's fields (e.g. <c>userId</c>); empty without authentication.</param>
/// <param name="HeartbeatInterval">How often the server pings this connection.</param>
/// <param name="ProtocolVersion">The protocol version the server speaks.</param>
public sealed record MoltBeatConnectionInfo(string ClientId, IReadOnlyDictionary<string, string> User, TimeSpan HeartbeatInterval, int ProtocolVersion)
{
    /// <summary>The user's id (<c>user.userId</c>), or null without authentication.</summary>
    public string? UserId => User.TryGetValue("userId", out var id) ? id : null;
}

/// <summary>Arguments of <see cref="MoltBeatWSClient.Connected"/>.</summary>
/// <param name="Connection">The server's <c>connected</c> payload.</param>
/// <param name="IsReconnect">Whether this connection replaced a lost one (rooms are being resubscribed).</param>
public sealed record MoltBeatConnectedEventArgs(MoltBeatConnectionInfo Connection, bool IsReconnect);

/// <summary>Arguments of <see cref="MoltBeatWSClient.Disconnected"/>.</summary>
/// <param name="CloseCode">The close code (1000 after <see cref="MoltBeatWSClient.DisconnectAsync"/>); null when the connection broke without one.</param>
/// <param name="Reason">The close reason, when one was given.</param>
/// <param name="Exception">What broke the connection, when it did not close cleanly.</param>
/// <param name="WillReconnect">Whether the client is reconnecting.</param>
public sealed record MoltBeatDisconnectedEventArgs(int? CloseCode, string? Reason, Exception? Exception, bool WillReconnect);

/// <summary>Arguments of <see cref="MoltBeatWSClient.Error"/>.</summary>
/// <param name="Exception">What failed: a <see cref="MoltBeatRequestException"/> for a server <c>error</c>, or the exception a handler threw.</param>
public sealed record MoltBeatErrorEventArgs(Exception Exception);

/// <summary>A subscription the server confirmed (the <c>subscribed</c> reply).</summary>
/// <param name="Room">The room.</param>
/// <param name="Epoch">The room's history epoch.</param>
/// <param name="Offset">The room's position when the subscription began.</param>
/// <param name="Recovered">For a resubscription with <c>since</c>: whether every missed event follows; null for a fresh one.</param>
public sealed record MoltBeatSubscription(string Room, string Epoch, long Offset, bool? Recovered)
{
    /// <summary>How many replayed events (missed since <c>since</c>, or the last ones asked) follow the reply before the first live one; null when neither was asked.</summary>
    public int? Replay { get; init; }
}

/// <summary>Arguments of <see cref="MoltBeatWSClient.Unsubscribed"/>.</summary>
/// <param name="Room">The room left.</param>
/// <param name="Reason">
/// Null when the server confirmed the client's own unsubscribe; otherwise why the server removed the subscription by
/// itself (<see cref="Protocol.UnsubscribeReasons"/>: <c>forbidden</c> after a token refresh narrowed the rights,
/// <c>revoked</c> by an operator). The client then forgets the room: it is not resubscribed.
/// </param>
public sealed record MoltBeatUnsubscribedEventArgs(string Room, string? Reason = null);

/// <summary>Arguments of <see cref="MoltBeatWSClient.Reconnecting"/>.</summary>
/// <param name="Attempt">The attempt about to be made (1 for the first after a connection was lost).</param>
/// <param name="Delay">How long the client waits before it (full-jitter backoff; zero after a 4009).</param>
/// <param name="CloseCode">The close code of the connection that was lost (null when it broke without one).</param>
public sealed record MoltBeatReconnectingEventArgs(int Attempt, TimeSpan Delay, int? CloseCode);

/// <summary>Arguments of <see cref="MoltBeatWSClient.ReconnectFailed"/>.</summary>
/// <param name="Attempts">Reconnect attempts made.</param>
/// <param name="LastException">Why the last attempt failed.</param>
public sealed record MoltBeatReconnectFailedEventArgs(int Attempts, Exception? LastException);

/// <summary>
/// Arguments of <see cref="MoltBeatWSClient.RecoveryFailed"/>: after a reconnect the server could not replay
/// what the client missed in a room (its history was lost or trimmed), so the application must reload that
/// room's state some other way. Live events continue from <paramref name="Current"/>.
/// </summary>
/// <param name="Room">The room.</param>
/// <param name="Since">The position the client asked to recover from.</param>
/// <param name="Current">The room's position now.</param>
public sealed record MoltBeatRecoveryFailedEventArgs(string Room, StreamPosition? Since, StreamPosition Current);

/// <summary>
/// Arguments of <see cref="MoltBeatWSClient.Occupancy"/>: how many subscribers a room subscribed with
/// <see cref="SubscribeOptions.Occupancy"/> has, across every node of the cluster (a dashboard's "87 watching").
/// </summary>
/// <param name="Room">The room.</param>
/// <param name="Subscribers">Its subscriptions on all nodes, this client's included; other nodes' as of their last heartbeat (about a second).</param>
public sealed record MoltBeatOccupancyEventArgs(string Room, long Subscribers);

/// <summary>Arguments of <see cref="MoltBeatWSClient.StateChanged"/>.</summary>
/// <param name="OldState">The state before.</param>
/// <param name="NewState">The state now.</param>
public sealed record MoltBeatStateChangedEventArgs(MoltBeatWSClientState OldState, MoltBeatWSClientState NewState);

/// <summary>One published event, as received (protocol.md, "event").</summary>
/// <param name="Event">The event name, e.g. <c>agent:created</c>.</param>
/// <param name="Data">The payload.</param>
/// <param name="Room">The room it was published to (the first one of a multi-room publish); null for a broadcast to all clients.</param>
/// <param name="Rooms">Every room of a multi-room publish; otherwise just <paramref name="Room"/> (empty for a broadcast).</param>
/// <param name="Offsets">Its position in every room it was recorded in; empty for a broadcast to all clients.</param>
/// <param name="Timestamp">Server time of publication.</param>
public sealed record ReceivedEvent(
    string Event,
    JsonElement Data,
    string? Room,
    IReadOnlyList<string> Rooms,
    IReadOnlyDictionary<string, long> Offsets,
    DateTimeOffset Timestamp)
{
    /// <summary>Its global position (<c>offsets.all</c>), which identifies a recorded event; null for a broadcast to all clients.</summary>
    public long? Id => Offsets.TryGetValue("all", out var id) ? id : null;

    /// <summary>
    /// The conflation key it was published with (protocol 1.1, e.g. a metric name or an entity id); null when none. Of the
    /// events of one room, event name and key, a subscription with <see cref="SubscribeOptions.MaxRate"/>, or a connection
    /// lagging behind, receives only the newest: keep the latest value per key, not a list.
    /// </summary>
    public string? Key { get; init; }

    /// <summary>
    /// How many older events of its room, event name and <see cref="Key"/> the server dropped in its favour (protocol 1.1);
    /// 0 when none. Their offsets are the ones this event's room skipped: replaced by newer values, not lost, so the
    /// client raises no <see cref="MoltBeatWSClient.RecoveryFailed"/> for them. A view counting updates adds it.
    /// </summary>
    public int Conflated { get; init; }

    /// <summary>The payload deserialized as <typeparamref name="T"/> (web defaults when <paramref name="options"/> is null).</summary>
    /// <exception cref="JsonException">The payload does not fit <typeparamref name="T"/>.</exception>
    public T? DataAs<T>(JsonSerializerOptions? options = null) => Data.Deserialize<T>(options ?? WebOptions);

    private static readonly JsonSerializerOptions WebOptions = new(JsonSerializerDefaults.Web);
}
