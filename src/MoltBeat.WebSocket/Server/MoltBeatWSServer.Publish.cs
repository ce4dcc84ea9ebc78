using System.Text.Json;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Rooms;

namespace MoltBeat.WebSocket.Server;

public sealed partial class MoltBeatWSServer
{
    /// <summary>The longest event name accepted.</summary>
    public const int MaxEventNameLength = 128;

    /// <summary>
    /// Publishes an event to a room (the seed's <c>broadcast(room, event, payload)</c>). Subscribers of the
    /// room, of its parents and of <c>all</c> receive it, each once. Returns as soon as it is queued.
    /// </summary>
    /// <exception cref="ArgumentException">The room or event name is invalid, or the payload is larger than <see cref="WSServerOptions.MaxPayloadSize"/>; nothing was sent.</exception>
    /// <exception cref="EngineUnavailableException">The engine cannot publish now; nothing was sent.</exception>
    public void Broadcast(string room, string @event, object? payload) => Broadcast([room], @event, payload);

    /// <summary>
    /// Publishes one event to several rooms at once: a connection subscribed to more than one of them
    /// still receives it once. The event's <c>room</c> is the first room and <c>rooms</c> lists them all.
    /// </summary>
    /// <exception cref="ArgumentException">A room or the event name is invalid, or the payload is too large; nothing was sent.</exception>
    /// <exception cref="EngineUnavailableException">The engine cannot publish now; nothing was sent.</exception>
    public void Broadcast(IReadOnlyList<string> rooms, string @event, object? payload)
    {
        var publishing = PublishAsync(rooms, @event, payload);
        if (publishing.IsCompleted)
            publishing.GetAwaiter().GetResult(); // surfaces engine errors to the caller
        else
            _ = publishing.ContinueWith(
                static (t, s) => ((MoltBeatWSServer)s!).Logger.PublishFailed(t.Exception!.GetBaseException(), "broadcast"),
                this, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
    }

    /// <summary>Publishes like <see cref="Broadcast(IReadOnlyList{string}, string, object?)"/> and completes when the engine recorded the event.</summary>
    /// <returns>The recorded event, with its offset in every room.</returns>
    /// <exception cref="ArgumentException">A room or the event name is invalid, or the payload is too large; nothing was sent.</exception>
    /// <exception cref="EngineUnavailableException">The engine cannot publish now; nothing was sent.</exception>
    public Task<PublishedEvent> PublishAsync(IReadOnlyList<string> rooms, string @event, object? payload, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(rooms);
        if (rooms.Count == 0)
            throw new ArgumentException("Name at least one room.", nameof(rooms));
        foreach (var room in rooms)
            RoomName.EnsureValid(room, nameof(rooms));
        ValidateEventName(@event);
        var data = SerializePayload(payload);
        var distinct = rooms.Distinct(StringComparer.Ordinal).ToArray();
        var request = new PublishRequest(distinct, RoomName.ExpandForDelivery(distinct), @event, data, Time.GetUtcNow().ToUnixTimeMilliseconds());
        return PublishCoreAsync(request, cancellationToken);
    }

    /// <summary>Sends an event to every connected client (the seed's <c>broadcastAll</c>). It is not recorded, so it is not recovered after a reconnect.</summary>
    /// <exception cref="ArgumentException">The event name is invalid or the payload is too large; nothing was sent.</exception>
    public void BroadcastAll(string @event, object? payload)
    {
        var sending = BroadcastAllAsync(@event, payload);
        if (sending.IsCompleted)
            sending.GetAwaiter().GetResult();
        else
            _ = sending.ContinueWith(
                static (t, s) => ((MoltBeatWSServer)s!).Logger.PublishFailed(t.Exception!.GetBaseException(), "broadcastAll"),
                this, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
    }

    /// <summary>Sends an event to every connected client of every node; completes when handed to the engine.</summary>
    /// <exception cref="ArgumentException">The event name is invalid or the payload is too large; nothing was sent.</exception>
    public async Task BroadcastAllAsync(string @event, object? payload, CancellationToken cancellationToken = default)
    {
        ValidateEventName(@event);
        var data = SerializePayload(payload);
        var frame = EventFrame.Build([], @event, data, Time.GetUtcNow().ToUnixTimeMilliseconds(), offsets: null);
        await _engineStarted.Value.ConfigureAwait(false);
        await Engine.BroadcastToAllAsync(new PublishedEvent(frame, null, null), cancellationToken).ConfigureAwait(false);
    }

    private async Task<PublishedEvent> PublishCoreAsync(PublishRequest request, CancellationToken cancellationToken)
    {
        await _engineStarted.Value.ConfigureAwait(false);
        return await Engine.PublishAsync(request, cancellationToken).ConfigureAwait(false);
    }

    private static void ValidateEventName(string @event)
    {
        if (string.IsNullOrEmpty(@event) || @event.Length > MaxEventNameLength)
            throw new ArgumentException($"An event name is 1-{MaxEventNameLength} characters.", nameof(@event));
    }

    private byte[] SerializePayload(object? payload)
    {
        // Serialized once per publish; every recipient gets these bytes inside the same frame.
        var data = payload is null
            ? "null"u8.ToArray()
            : JsonSerializer.SerializeToUtf8Bytes(payload, payload.GetType(), Options.JsonSerializerOptions);
        if (data.Length > Options.MaxPayloadSize)
            throw new ArgumentException($"The payload is {data.Length} bytes serialized; the limit is {Options.MaxPayloadSize} (WSServerOptions.MaxPayloadSize). Nothing was sent.", nameof(payload));
        if (Options.JsonSerializerOptions.WriteIndented)
            throw new ArgumentException("JsonSerializerOptions.WriteIndented must be false: messages may not hold raw newlines.", nameof(payload));
        return data;
    }
}
