using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Server.Outgoing;

/// <summary>What an item waiting for a connection is.</summary>
internal enum OutgoingKind : byte
{
    /// <summary>A live event (a delivery): counts toward the slow-consumer bound.</summary>
    Event,

    /// <summary>A reply or error: counts toward the slow-consumer bound.</summary>
    Message,

    /// <summary>A replayed event (recovery): exempt from the bound, see <see cref="ConnectionOutput"/>.</summary>
    Replay,

    /// <summary>A WebSocket ping frame (heartbeat); no message.</summary>
    Ping,
}

/// <summary>
/// One item waiting in a connection's output: a complete server message (compact JSON), or a ping. An event (live or
/// replayed) keeps its <see cref="PublishedEvent"/>, where conflation reads its key, and how many older events of the
/// same key it replaced for this connection (<see cref="Conflated"/>, written into the frame as it is sent).
/// </summary>
internal readonly record struct OutgoingItem(byte[]? Message, OutgoingKind Kind)
{
    /// <summary>An event or a replayed one.</summary>
    public OutgoingItem(PublishedEvent published, OutgoingKind kind)
        : this(published.Frame, kind) => Event = published;

    /// <summary>The event an event item carries; null for replies and pings.</summary>
    public PublishedEvent? Event { get; init; }

    /// <summary>How many older events of the same room, event name and key this one replaced (0: none).</summary>
    public int Conflated { get; init; }

    /// <summary>Whether the item counts toward the slow-consumer bound (everything but replays).</summary>
    public bool IsBounded => Kind != OutgoingKind.Replay;

    /// <summary>Conflation's identity of the item: only events with a key have one.</summary>
    public string? ConflationKey => Event?.ConflationKey;

    /// <summary>Bytes it counts for in the bound and in a write (a ping counts as its two header bytes).</summary>
    public int Length => (Message?.Length ?? 2) + EventFrame.ConflatedLength(Conflated);
}
