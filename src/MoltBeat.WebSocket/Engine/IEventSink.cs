namespace MoltBeat.WebSocket.Engine;

/// <summary>
/// Where an engine hands the events to deliver on this node (the server's hub). Engines call
/// <see cref="Deliver"/> for one event at a time, in publish order per room, and <see cref="Control"/> for the
/// operators' instructions, one at a time too and never at the same time as a delivery.
/// </summary>
public interface IEventSink
{
    /// <summary>Delivers <paramref name="published"/> to this node's matching connections. Never blocks on a socket.</summary>
    void Deliver(PublishedEvent published);

    /// <summary>
    /// Applies <paramref name="control"/> to this node's connections (close a revoked user's, remove a user's
    /// subscriptions) and remembers a revocation for this node's later authentications. Called once per node for
    /// each <see cref="IMoltBeatEngine.PublishControlAsync"/> that reached it, the publishing node included, in
    /// order with the deliveries around it. Never blocks: work that must wait for a connection is posted to it.
    /// </summary>
    void Control(EngineControl control);

    /// <summary>This node's authenticated connections now, for the cluster view of nodes. Safe from any thread.</summary>
    int Connections { get; }

    /// <summary>This node's subscribers of <paramref name="room"/> now (0 when none). Safe from any thread.</summary>
    int Subscribers(string room);

    /// <summary>
    /// The rooms whose subscriber count on this node changed since the last call (or, with <paramref name="all"/>, every
    /// room with subscribers on this node), for an engine that shares the counts with other nodes; read their counts with
    /// <see cref="Subscribers"/>. Each change is told once: a caller that fails to share them asks again with
    /// <paramref name="all"/>. Tracking starts with the first call (ask for all then). Safe from any thread; joins and leaves pay only for marking their room.
    /// </summary>
    IReadOnlyCollection<string> TakeChangedRooms(bool all);

    /// <summary>
    /// This node's subscribers of <paramref name="room"/> by user: each authenticated user with its subscribed connections,
    /// and how many subscribed connections are anonymous. Safe from any thread.
    /// </summary>
    (IReadOnlyList<UserPresence> Users, int Anonymous) Presence(string room);
}
