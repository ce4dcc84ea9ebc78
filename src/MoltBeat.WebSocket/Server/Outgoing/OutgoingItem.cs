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

/// <summary>One item waiting in a connection's output: a complete server message (compact JSON), or a ping.</summary>
internal readonly record struct OutgoingItem(byte[]? Message, OutgoingKind Kind)
{
    /// <summary>Bytes it counts for in the bound (a ping counts as its two header bytes).</summary>
    public int Length => Message?.Length ?? 2;
}
