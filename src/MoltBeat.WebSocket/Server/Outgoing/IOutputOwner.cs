namespace MoltBeat.WebSocket.Server.Outgoing;

/// <summary>What a <see cref="ConnectionOutput"/> asks of the connection it writes for: nothing else of the server.</summary>
internal interface IOutputOwner
{
    /// <summary>The authenticated user's id, or null for an anonymous connection (presence).</summary>
    string? UserId { get; }

    /// <summary>Whether the client opted in to batched frames (<c>batch=1</c>).</summary>
    bool Batch { get; }

    /// <summary>Whether the client negotiated permessage-deflate: events above the threshold go to it compressed.</summary>
    bool Deflate { get; }

    /// <summary>
    /// The client fell more than the bound behind (<paramref name="bytes"/>, <paramref name="messages"/>
    /// waiting): close it with 4009. Called on the worker, which has already dropped what was waiting.
    /// </summary>
    void OnSlowConsumer(long bytes, int messages);

    /// <summary>Conflation dropped <paramref name="count"/> older events for newer ones of the same key (metrics). Called on the worker.</summary>
    void OnConflated(int count);

    /// <summary>Sends the close frame (the connection's last frame, after everything that was to be flushed).</summary>
    Task SendCloseFrameAsync();

    /// <summary>The transport failed under a write: cut it (no close handshake).</summary>
    void Abort();
}
