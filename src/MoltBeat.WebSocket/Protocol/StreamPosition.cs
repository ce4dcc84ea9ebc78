namespace MoltBeat.WebSocket.Protocol;

/// <summary>
/// A position in one room's history: the room's <paramref name="Epoch"/> (changes whenever the history
/// is lost) and the <paramref name="Offset"/> of an event in it (1, 2, 3, … without gaps in one epoch).
/// </summary>
/// <param name="Epoch">Opaque identifier of the room's current history.</param>
/// <param name="Offset">Position of the last event seen; 0 before the first event.</param>
public readonly record struct StreamPosition(string Epoch, long Offset);
