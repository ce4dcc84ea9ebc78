using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Engine;

/// <summary>
/// The seam between the server and where events travel and are kept: in memory for one node
/// (<see cref="InMemoryEngine"/>), Redis for several. The server never asks which one it has.
/// </summary>
/// <remarks>
/// Delivery contract, which every engine keeps:
/// <list type="bullet">
/// <item>Per room, events are delivered to every node's sink in offset order, each once.</item>
/// <item>Assigning an event's offsets, appending it to each room's history and handing it to the
/// nodes' sinks are one atomic step per room: no subscriber can see offset n+1 before n.</item>
/// <item><see cref="SubscribeAsync"/> calls its attach callback atomically with respect to the delivery of
/// that room's events on this node, so the replayed events and the live ones meet with no gap and no
/// duplicate.</item>
/// <item>An event published while a node is cut off from the others is not delivered to it later;
/// its clients recover it from history when they resubscribe.</item>
/// <item>Idempotency (protocol 1.1): a publish with a <see cref="PublishRequest.IdempotencyKey"/> that any node published
/// within <see cref="ProtocolLimits.IdempotencyWindow"/> (or the engine's configured window) is not published again: no
/// offset is taken, nothing is recorded or delivered, and the answer is the first publish's event with
/// <see cref="PublishedEvent.Duplicate"/> set. Checking the key and publishing are one atomic step, so the same key
/// published at once on two nodes publishes exactly once. The window starts at the first publish; a repeat after it is
/// a new publish.</item>
/// </list>
/// Control contract (protocol 1.1, revocation; see <see cref="PublishControlAsync"/>):
/// <list type="bullet">
/// <item>A control reaches <see cref="IEventSink.Control"/> of every node that is connected when it is published,
/// this node included, once, in order with the events delivered around it; it is never recorded in any history
/// and never replayed.</item>
/// <item>A revocation (<see cref="EngineControlKind.RevokeUser"/>) is also kept, before it is delivered, for
/// <see cref="EngineControl.RevocationKept"/>, where <see cref="GetRevocationAsync"/> of every node finds it: a
/// node that started after it, or missed its message while cut off, still refuses the user's old tokens.</item>
/// </list>
/// </remarks>
public interface IMoltBeatEngine : IAsyncDisposable
{
    /// <summary>Starts delivering events to <paramref name="sink"/>; called once by the server before any publish.</summary>
    Task StartAsync(IEventSink sink, CancellationToken cancellationToken);

    /// <summary>
    /// Records and delivers one event to every node. Completes when it is recorded. With an idempotency key seen within the
    /// window, publishes nothing and returns the first publish's event marked <see cref="PublishedEvent.Duplicate"/>.
    /// </summary>
    /// <exception cref="EngineUnavailableException">The engine cannot publish now (e.g. Redis is unreachable).</exception>
    ValueTask<PublishedEvent> PublishAsync(PublishRequest request, CancellationToken cancellationToken);

    /// <summary>Delivers a broadcast to every client of every node; it is not recorded in any history.</summary>
    ValueTask BroadcastToAllAsync(PublishedEvent published, CancellationToken cancellationToken);

    /// <summary>
    /// Subscribes a local connection to <paramref name="room"/>: computes the room's position and the events
    /// <paramref name="replay"/> asks for (missed since a position, or the most recent ones), then calls
    /// <paramref name="attach"/> with them, atomically with the delivery of the room's live events on this node:
    /// the last replayed event is the last one delivered before the attach.
    /// </summary>
    ValueTask SubscribeAsync(string room, ReplayRequest replay, Action<RecoveryResult> attach, CancellationToken cancellationToken);

    /// <summary>
    /// Reads the room's position and the events <paramref name="request"/> asks for, as <see cref="SubscribeAsync"/>
    /// would compute them, without subscribing (rooms over HTTP: <c>GET /api/rooms/{room}/history</c>).
    /// </summary>
    /// <exception cref="EngineUnavailableException">The engine cannot read it now.</exception>
    ValueTask<RecoveryResult> ReadHistoryAsync(string room, ReplayRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// Delivers an operator's control to every node's sink (<see cref="IEventSink.Control"/>), this node's
    /// included, without recording it in any history; a <see cref="EngineControlKind.RevokeUser"/> is kept first, for
    /// <see cref="EngineControl.RevocationKept"/> (a later revocation of the same user replaces an earlier one).
    /// Completes when the control is kept and published: this node has applied it (in-memory) or every node
    /// receives it as it receives events (shared engines).
    /// </summary>
    /// <exception cref="EngineUnavailableException">The engine cannot publish now; the control was neither kept nor delivered.</exception>
    ValueTask PublishControlAsync(EngineControl control, CancellationToken cancellationToken);

    /// <summary>
    /// When <paramref name="userId"/> was last revoked, as kept by <see cref="PublishControlAsync"/> on any node, or null
    /// when there is no revocation of that user kept (none, or older than <see cref="EngineControl.RevocationKept"/>).
    /// </summary>
    /// <exception cref="EngineUnavailableException">The engine cannot read it now.</exception>
    ValueTask<DateTimeOffset?> GetRevocationAsync(string userId, CancellationToken cancellationToken);

    /// <summary>
    /// The room's current position: its epoch and the offset of its last recorded event (0 when none yet), as a
    /// subscribe would be told it. For a snapshot without a gap: read the position, load the state, then subscribe
    /// with <c>since</c> that position.
    /// </summary>
    /// <exception cref="EngineUnavailableException">The engine cannot read it now.</exception>
    ValueTask<StreamPosition> GetPositionAsync(string room, CancellationToken cancellationToken);

    /// <summary>
    /// The room's subscribers over every node of the deployment (protocol 1.1): this node's count, read now from its sink
    /// (<see cref="IEventSink.Subscribers"/>), plus what every other live node last shared (shared engines; a node that
    /// stopped is no longer counted once it is known to be gone).
    /// </summary>
    /// <exception cref="EngineUnavailableException">The engine cannot read it now.</exception>
    ValueTask<long> GetSubscribersAsync(string room, CancellationToken cancellationToken);

    /// <summary>
    /// Marks <paramref name="room"/> occupied over every node, as its first subscriber on this node arrives (protocol 1.1,
    /// <c>RoomOccupied</c>); also cancels a vacating in progress. True only for the call that changed it from vacated (or
    /// unknown) to occupied, on whichever node: so the event is raised once per transition in the deployment.
    /// </summary>
    /// <exception cref="EngineUnavailableException">The engine cannot reach its shared state now.</exception>
    ValueTask<bool> MarkOccupiedAsync(string room, CancellationToken cancellationToken);

    /// <summary>
    /// The occupied rooms that have had no subscriber on any node for at least <paramref name="debounce"/>, now marked
    /// vacated (protocol 1.1, <c>RoomVacated</c>): each such room is returned by one call only, on whichever node. Called
    /// periodically by every node that tracks occupancy; a node that died stops counting once it is known to be gone.
    /// </summary>
    /// <exception cref="EngineUnavailableException">The engine cannot reach its shared state now.</exception>
    ValueTask<IReadOnlyList<string>> TakeVacatedAsync(TimeSpan debounce, CancellationToken cancellationToken);

    /// <summary>
    /// Who is subscribed to <paramref name="room"/> over every node: the subscriber count and the users with their
    /// connection counts (at most <paramref name="maxUsers"/>, most connections first; anonymous connections are counted,
    /// not listed).
    /// </summary>
    /// <exception cref="EngineUnavailableException">The engine cannot read it now.</exception>
    ValueTask<RoomPresence> GetPresenceAsync(string room, int maxUsers, CancellationToken cancellationToken);

    /// <summary>
    /// The nodes of the deployment that are alive, with their connections: this node's counted now, every other live node's
    /// as its last heartbeat shared it (shared engines; a node that stopped is gone once it is known to be). This node first.
    /// </summary>
    /// <exception cref="EngineUnavailableException">The engine cannot read it now.</exception>
    ValueTask<IReadOnlyList<NodeInfo>> GetNodesAsync(CancellationToken cancellationToken);

    /// <summary>Counters for stats and health.</summary>
    EngineStats GetStats();
}

/// <summary>A live node of the deployment (the cluster view).</summary>
/// <param name="NodeId">Its id (random, new at each start; <c>local</c> for the in-memory engine's one node).</param>
/// <param name="Connections">Its authenticated connections, as of <paramref name="LastHeartbeat"/>.</param>
/// <param name="LastHeartbeat">When it last told the deployment (now for the node asked).</param>
/// <param name="Self">Whether it is the node that answered.</param>
public sealed record NodeInfo(string NodeId, int Connections, DateTimeOffset LastHeartbeat, bool Self);

/// <summary>Who is subscribed to a room (protocol 1.1 presence).</summary>
/// <param name="Room">The room.</param>
/// <param name="Subscribers">Subscriptions over every node, anonymous ones included.</param>
/// <param name="Users">Authenticated users with their number of subscribed connections, most first (bounded by the query).</param>
public sealed record RoomPresence(string Room, long Subscribers, IReadOnlyList<UserPresence> Users);

/// <summary>One user's subscribed connections to a room.</summary>
/// <param name="UserId">The user's id (the token's subject).</param>
/// <param name="Connections">Its connections subscribed to the room, over every node.</param>
public sealed record UserPresence(string UserId, int Connections);

/// <summary>What an engine reports about itself.</summary>
/// <param name="Name">The engine's kind, e.g. <c>memory</c> or <c>redis</c>.</param>
/// <param name="Healthy">Whether it can publish now.</param>
/// <param name="HistoryRooms">Rooms that currently keep history.</param>
/// <param name="HistoryEvents">Entries over all room histories.</param>
/// <param name="HistoryBytes">Bytes of the distinct events those entries hold (the in-memory engine), or the memory the history takes where it is kept (the Redis engine: what Redis reports for its streams).</param>
public sealed record EngineStats(string Name, bool Healthy, int HistoryRooms, long HistoryEvents, long HistoryBytes);

/// <summary>The engine cannot publish now; nothing was published.</summary>
public sealed class EngineUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public EngineUnavailableException() { }

    /// <summary>Creates the exception with a message.</summary>
    public EngineUnavailableException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public EngineUnavailableException(string message, Exception inner) : base(message, inner) { }
}
