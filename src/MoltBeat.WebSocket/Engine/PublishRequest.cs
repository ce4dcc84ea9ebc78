using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Engine;

/// <summary>What the server asks an engine to publish; the payload is serialized already, once.</summary>
/// <param name="Rooms">The rooms the publisher named (validated).</param>
/// <param name="DeliveryRooms">Those rooms with their parents and <c>all</c>, distinct, <c>all</c> last.</param>
/// <param name="EventName">The event name.</param>
/// <param name="Data">The payload as compact JSON.</param>
/// <param name="TimestampMs">Server time of publication, ms since the Unix epoch.</param>
public sealed record PublishRequest(
    IReadOnlyList<string> Rooms,
    string[] DeliveryRooms,
    string EventName,
    ReadOnlyMemory<byte> Data,
    long TimestampMs)
{
    /// <summary>
    /// The W3C <c>traceparent</c> of the publish's span when it is traced (<see cref="Server.MoltBeatTracing"/>); an
    /// engine carries it to every node, so each node's delivery span continues the publisher's trace. Null otherwise.
    /// </summary>
    public string? TraceParent { get; init; }

    /// <summary>
    /// The publisher's idempotency key (protocol 1.1), 1 to <see cref="ProtocolLimits.MaxKeyLength"/> characters, or null.
    /// A publish whose key was published already within <see cref="ProtocolLimits.IdempotencyWindow"/>, on any node, is
    /// not published again: the engine answers the first publish's event with <see cref="PublishedEvent.Duplicate"/> set
    /// (see <see cref="IMoltBeatEngine.PublishAsync"/>). The key alone identifies the publish: rooms and payload of a
    /// repeat are not compared with the first's.
    /// </summary>
    /// <exception cref="ArgumentException">The key is empty or longer than <see cref="ProtocolLimits.MaxKeyLength"/>.</exception>
    public string? IdempotencyKey
    {
        get;
        init
        {
            EnsureValidIdempotencyKey(value, nameof(IdempotencyKey));
            field = value;
        }
    }

    /// <summary>
    /// The conflation key (protocol 1.1), 1 to <see cref="ProtocolLimits.MaxKeyLength"/> characters, or null: written into the
    /// event's frame (<c>"key"</c>), where the server reads it back to conflate events of one room, event name and key for a
    /// subscription with <c>maxRate</c> or a connection that lags. Events without a key are never conflated.
    /// </summary>
    /// <exception cref="ArgumentException">The key is empty or longer than <see cref="ProtocolLimits.MaxKeyLength"/>.</exception>
    public string? Key
    {
        get;
        init
        {
            EnsureValidKey(value, nameof(Key));
            field = value;
        }
    }

    /// <summary>Throws unless <paramref name="key"/> is null or 1 to <see cref="ProtocolLimits.MaxKeyLength"/> characters.</summary>
    internal static void EnsureValidKey(string? key, string paramName)
    {
        if (key is not null && key.Length is 0 or > ProtocolLimits.MaxKeyLength)
            throw new ArgumentException($"A conflation key is 1-{ProtocolLimits.MaxKeyLength} characters, got {key.Length}. Nothing was sent.", paramName);
    }

    /// <summary>Throws unless <paramref name="key"/> is null or 1 to <see cref="ProtocolLimits.MaxKeyLength"/> characters.</summary>
    internal static void EnsureValidIdempotencyKey(string? key, string paramName)
    {
        if (key is not null && key.Length is 0 or > ProtocolLimits.MaxKeyLength)
            throw new ArgumentException($"An idempotency key is 1-{ProtocolLimits.MaxKeyLength} characters, got {key.Length}. Nothing was sent.", paramName);
    }
}
