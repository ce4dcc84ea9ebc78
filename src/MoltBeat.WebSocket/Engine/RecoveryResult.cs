using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Engine;

/// <summary>The answer to a subscribe or a history read (<see cref="ReplayRequest"/>): the room's position and the events to replay.</summary>
/// <param name="Position">The room's current epoch and last offset.</param>
/// <param name="Recovered">Null when no recovery (<see cref="ReplayRequest.Since"/>) was asked; true when <paramref name="Replay"/> holds every event after the asked position; false when it could not.</param>
/// <param name="Replay">
/// The events to send before the live ones, oldest first: every event after <see cref="ReplayRequest.Since"/> when
/// <paramref name="Recovered"/> is true, otherwise the room's last <see cref="ReplayRequest.Last"/> recorded events
/// (fewer when the history holds fewer; empty when none was asked).
/// </param>
public sealed record RecoveryResult(StreamPosition Position, bool? Recovered, IReadOnlyList<PublishedEvent> Replay);
