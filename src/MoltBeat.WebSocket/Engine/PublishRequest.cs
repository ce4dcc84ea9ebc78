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
}
