using StackExchange.Redis;

namespace MoltBeat.WebSocket.Redis;

/// <summary>
/// The one place that names keys and channels. Every key carries the prefix as a cluster hash tag, so
/// the publish script, which touches several rooms at once, stays within one slot.
/// </summary>
internal sealed class RedisKeys(string prefix)
{
    private readonly string _tag = "{" + prefix + "}";

    /// <summary>The pub/sub channel every node subscribes to: one per deployment, so events keep their global order.</summary>
    public RedisChannel Events { get; } = RedisChannel.Literal(prefix + ":events");

    /// <summary>The name of <see cref="Events"/>, as a script argument.</summary>
    public string EventsName { get; } = prefix + ":events";

    /// <summary>
    /// A room's metadata hash: <c>e</c> epoch, <c>o</c> last offset, <c>t</c> last history time (ms), <c>g</c> the
    /// <see cref="Generation"/> it was started in (absent: 0).
    /// </summary>
    public RedisKey Meta(string room) => _tag + ":m:" + room;

    /// <summary>
    /// The deployment's generation (absent: 0), moved on when Redis is found behind what a node delivered: it lost
    /// writes (a failover to a replica that missed them), and every room of an earlier generation starts again at a
    /// new epoch when a script next touches it (see <c>RedisScripts.Generation</c>). Never expires.
    /// </summary>
    public RedisKey Generation => _tag + ":g";

    /// <summary>A room's history stream; entry ids are <c>ms-offset</c>, so offsets and ages are both ranges.</summary>
    public RedisKey History(string room) => _tag + ":h:" + room;

    /// <summary>
    /// A publish's idempotency key: the message the publish recorded (see <c>RedisMessage</c>), expiring after the
    /// idempotency window. The publish script reads and sets it, so the check is atomic with the publish.
    /// </summary>
    public RedisKey Idempotency(string key) => _tag + ":i:" + key;

    /// <summary>A user's revocation: the time of its latest revocation (Unix ms), expiring with it (<c>EngineControl.RevocationKept</c>).</summary>
    public RedisKey Revoked(string userId) => _tag + ":r:" + userId;

    /// <summary>The live nodes: a sorted set of node ids scored by their last heartbeat (Redis time, ms).</summary>
    public RedisKey Nodes => _tag + ":nodes";

    /// <summary>Each live node's connections, by node id (a hash written by its heartbeat).</summary>
    public RedisKey NodeConnections => _tag + ":nodeconnections";

    /// <summary>A node's subscriber counts: a hash of room to count (rooms at 0 removed), expiring with its heartbeat.</summary>
    public RedisKey NodeRooms(string nodeId) => _tag + ":node:" + nodeId + ":rooms";

    /// <summary>What <see cref="NodeRooms"/> starts with, for scripts that build it from a node id.</summary>
    public string NodeRoomsPrefix => _tag + ":node:";

    /// <summary>The occupied rooms: room → 0 while it has subscribers, else when (Unix ms) it was first seen with none.</summary>
    public RedisKey Occupied => _tag + ":occupied";

    /// <summary>Where the nodes answer one presence query: node id → its part.</summary>
    public RedisKey PresenceAnswers(string queryId) => _tag + ":presence:" + queryId;
}
