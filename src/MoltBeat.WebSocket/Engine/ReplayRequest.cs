using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Engine;

/// <summary>
/// What a subscribe or a history read asks of a room's history (protocol 1.1): the events after a position
/// (<see cref="Since"/>, recovery), the most recent events (<see cref="Last"/>), both, or neither.
/// </summary>
/// <remarks>
/// With both, <see cref="Since"/> decides when it recovers and <see cref="Last"/> is ignored; when it cannot recover,
/// <see cref="Last"/> still applies. An engine answers with a <see cref="RecoveryResult"/>.
/// </remarks>
/// <param name="Since">Recover every event after this position; null when no recovery is asked.</param>
/// <param name="Last">How many of the room's most recent recorded events to return when <see cref="Since"/> does not recover (0: none).</param>
public sealed record ReplayRequest(StreamPosition? Since = null, int Last = 0)
{
    /// <summary>Nothing from history: the position only (a plain, live-only subscribe).</summary>
    public static ReplayRequest None { get; } = new();

    /// <summary>Recover from <paramref name="since"/> (null: nothing asked).</summary>
    public static ReplayRequest From(StreamPosition? since) => since is null ? None : new(since);
}
