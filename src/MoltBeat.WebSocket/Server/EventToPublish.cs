namespace MoltBeat.WebSocket.Server;

/// <summary>
/// One event given to <see cref="MoltBeatWSServer.PublishAsync(EventToPublish, CancellationToken)"/>, or one of a batch
/// given to <see cref="MoltBeatWSServer.PublishAsync(IReadOnlyList{EventToPublish}, CancellationToken)"/>: the rooms it
/// goes to, its name, its payload and its options, checked as a single publish checks them.
/// </summary>
/// <remarks>
/// A record with init-only properties, so that later options of a publish (a conflation key, an
/// idempotency key) can be added as optional properties without breaking callers.
/// </remarks>
/// <param name="Rooms">The rooms to publish to (at least one); a client subscribed to more than one receives the event once.</param>
/// <param name="Event">The event name, 1 to <see cref="MoltBeatWSServer.MaxEventNameLength"/> characters.</param>
/// <param name="Payload">The payload, serialized with <see cref="WSServerOptions.JsonSerializerOptions"/>; null is sent as JSON <c>null</c>.</param>
public sealed record EventToPublish(IReadOnlyList<string> Rooms, string Event, object? Payload)
{
    /// <summary>An event to one room.</summary>
    /// <param name="room">The room to publish to.</param>
    /// <param name="event">The event name.</param>
    /// <param name="payload">The payload.</param>
    public EventToPublish(string room, string @event, object? payload)
        : this([room], @event, payload)
    {
    }

    /// <summary>
    /// The idempotency key (protocol 1.1), 1 to <see cref="Protocol.ProtocolLimits.MaxKeyLength"/> characters, or null (the
    /// default) for none. A publish repeated with the same key within <see cref="Protocol.ProtocolLimits.IdempotencyWindow"/>
    /// (5 minutes), on any node, is not published again: it returns the first publish's event and offsets with
    /// <see cref="Engine.PublishedEvent.Duplicate"/> set. So a publisher whose publish failed or timed out, not knowing
    /// whether it was recorded, retries with the same key safely. Only the key is compared, not the rooms or the payload.
    /// </summary>
    public string? IdempotencyKey { get; init; }

    /// <summary>
    /// The conflation key (protocol 1.1), 1 to <see cref="Protocol.ProtocolLimits.MaxKeyLength"/> characters, or null (the
    /// default): a metric's name, an agent's or a post's id. The event carries it (<c>"key"</c>); a subscription with
    /// <c>maxRate</c>, or a connection that lags, receives only the newest waiting event of each room, event name and key,
    /// marked with how many it replaced (<c>"conflated"</c>). Events without a key are never dropped.
    /// </summary>
    public string? Key { get; init; }
}
