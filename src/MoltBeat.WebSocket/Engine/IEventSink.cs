namespace MoltBeat.WebSocket.Engine;

/// <summary>
/// Where an engine hands the events to deliver on this node (the server's hub). Engines call
/// <see cref="Deliver"/> for one event at a time, in publish order per room.
/// </summary>
public interface IEventSink
{
    /// <summary>Delivers <paramref name="published"/> to this node's matching connections. Never blocks on a socket.</summary>
    void Deliver(PublishedEvent published);
}
