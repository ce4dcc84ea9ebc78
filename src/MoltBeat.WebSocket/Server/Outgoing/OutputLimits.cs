namespace MoltBeat.WebSocket.Server.Outgoing;

/// <summary>The bounds of one connection's output, from <see cref="WSServerOptions"/>.</summary>
/// <param name="MaxQueuedBytes">Bytes that may wait (replays excepted) before the client is closed with 4009.</param>
/// <param name="MaxQueuedMessages">Messages that may wait (replays excepted) before the same.</param>
/// <param name="MaxBatchSize">Largest frame payload when the client batches.</param>
/// <param name="CompressionThreshold">Smallest event sent compressed to a client that negotiated permessage-deflate.</param>
internal sealed record OutputLimits(int MaxQueuedBytes, int MaxQueuedMessages, int MaxBatchSize, int CompressionThreshold)
{
    /// <summary>Bytes taken into one network write at most, so that one write's buffer stays small and others get their turn.</summary>
    public const int MaxBytesPerWrite = 256 * 1024;

    /// <summary>The limits in <paramref name="options"/>.</summary>
    public static OutputLimits From(WSServerOptions options) =>
        new(options.MaxQueuedBytes, options.MaxQueuedMessages, options.MaxBatchSize, options.CompressionThreshold);
}
