using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Engine;

/// <summary>The answer to a subscribe: the room's position and, when asked, the events missed since then.</summary>
/// <param name="Position">The room's current epoch and last offset.</param>
/// <param name="Recovered">Null when no recovery was asked; true when <paramref name="Missed"/> holds every event after the asked position; false when it could not.</param>
/// <param name="Missed">The missed events in order (empty unless <paramref name="Recovered"/> is true).</param>
public sealed record RecoveryResult(StreamPosition Position, bool? Recovered, IReadOnlyList<PublishedEvent> Missed);
