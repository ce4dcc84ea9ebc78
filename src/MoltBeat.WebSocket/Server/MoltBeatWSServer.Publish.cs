using System.Diagnostics;
using System.Text.Json;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Rooms;

namespace MoltBeat.WebSocket.Server;

public sealed partial class MoltBeatWSServer
{
    /// <summary>The longest event name accepted.</summary>
    public const int MaxEventNameLength = 128;

    /// <summary>The most events one batch publish may hold (protocol 1.1, <c>POST /api/publish</c> with <c>events</c>).</summary>
    public const int MaxBatchEvents = 1000;

    private string? _engineName;

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
    public void Broadcast(IReadOnlyList<string> rooms, string @event, object? payload) => Broadcast(rooms, @event, payload, key: null);

    /// <summary>
    /// Publishes like <see cref="Broadcast(IReadOnlyList{string}, string, object?)"/>, with a conflation key (protocol 1.1;
    /// null for none): the shape of <see cref="Analytics.EventBroadcaster.KeyedPublish"/>, so
    /// <c>EventBroadcaster.WithKeys(server.Broadcast)</c> publishes through it.
    /// </summary>
    /// <exception cref="ArgumentException">A room, the event name or the key is invalid, or the payload is too large; nothing was sent.</exception>
    public void Broadcast(IReadOnlyList<string> rooms, string @event, object? payload, string? key)
    {
        var publishing = PublishCoreAsync(CreateRequest(rooms, @event, payload, key: key), CancellationToken.None);
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
    public Task<PublishedEvent> PublishAsync(IReadOnlyList<string> rooms, string @event, object? payload, CancellationToken cancellationToken = default) =>
        PublishCoreAsync(CreateRequest(rooms, @event, payload), cancellationToken);

    /// <summary>
    /// Publishes one event with its options (e.g. <see cref="EventToPublish.IdempotencyKey"/>) and completes when the engine
    /// recorded it, or found that its idempotency key was published already.
    /// </summary>
    /// <returns>
    /// The recorded event, with its offset in every room; for a repeat of an idempotency key within the window (on any
    /// node), the first publish's event and offsets with <see cref="PublishedEvent.Duplicate"/> set, nothing published now.
    /// </returns>
    /// <exception cref="ArgumentException">A room, the event name or the idempotency key is invalid, or the payload is too large; nothing was sent.</exception>
    /// <exception cref="EngineUnavailableException">The engine cannot publish now; nothing was sent (or, on a timeout, whether it was recorded is unknown: retry with the same idempotency key).</exception>
    public Task<PublishedEvent> PublishAsync(EventToPublish @event, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(@event);
        return PublishCoreAsync(CreateRequest(@event), cancellationToken);
    }

    /// <summary>
    /// Publishes a batch of events in order, each as <see cref="PublishAsync(EventToPublish, CancellationToken)"/>
    /// would, and completes when the engine recorded them all. Every event is checked before the first is
    /// published: one invalid event refuses the whole batch and nothing is sent.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Validation is all or nothing, the engine's part is not: when the engine fails partway, the events
    /// before the failing one stay published (the exception says which one failed). Retrying the whole batch with the
    /// same idempotency keys publishes only those that were not.
    /// </para>
    /// <para>
    /// Each event's idempotency key is honoured as for a single publish, within the batch too: an event that repeats the key
    /// of an earlier event of the same batch is a duplicate of it (published once; its result is the earlier event, with
    /// <see cref="PublishedEvent.Duplicate"/> set).
    /// </para>
    /// </remarks>
    /// <param name="events">1 to <see cref="MaxBatchEvents"/> events, published in this order.</param>
    /// <param name="cancellationToken">Stops publishing the events not yet handed to the engine.</param>
    /// <returns>The recorded events, in the order given, each with its offset in every room (a duplicate: the first publish's, marked <see cref="PublishedEvent.Duplicate"/>).</returns>
    /// <exception cref="ArgumentException">
    /// The batch is empty or holds more than <see cref="MaxBatchEvents"/> events, or one event is invalid (its
    /// message starts with <c>events[i]: </c>, naming the first invalid one); nothing was sent.
    /// </exception>
    /// <exception cref="EngineUnavailableException">The engine cannot publish now; the message starts with <c>events[i]: </c>, and the events before it were published.</exception>
    public async Task<IReadOnlyList<PublishedEvent>> PublishAsync(IReadOnlyList<EventToPublish> events, CancellationToken cancellationToken = default)
    {
        var requests = CreateRequests(events);
        await _engineStarted.Value.ConfigureAwait(false);
        var published = new PublishedEvent[requests.Length];
        for (var i = 0; i < requests.Length; i++)
        {
            try
            {
                // One at a time: the engine orders a room's events by the order of its publishes.
                published[i] = await PublishTracedAsync(requests[i], cancellationToken).ConfigureAwait(false);
            }
            catch (EngineUnavailableException ex)
            {
                throw new EngineUnavailableException($"events[{i}]: {ex.Message} " + (i == 0 ? "Nothing was published." : $"The {i} events before it were published."), ex);
            }
        }
        return published;
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

    private PublishRequest CreateRequest(EventToPublish @event) =>
        CreateRequest(@event.Rooms, @event.Event, @event.Payload, @event.IdempotencyKey, @event.Key);

    private PublishRequest CreateRequest(IReadOnlyList<string> rooms, string @event, object? payload, string? idempotencyKey = null, string? key = null)
    {
        ArgumentNullException.ThrowIfNull(rooms);
        if (rooms.Count == 0)
            throw new ArgumentException("Name at least one room.", nameof(rooms));
        foreach (var room in rooms)
            RoomName.EnsureValid(room, nameof(rooms));
        ValidateEventName(@event);
        PublishRequest.EnsureValidIdempotencyKey(idempotencyKey, nameof(idempotencyKey));
        PublishRequest.EnsureValidKey(key, nameof(key));
        var data = SerializePayload(payload);
        var distinct = rooms.Distinct(StringComparer.Ordinal).ToArray();
        return new PublishRequest(distinct, RoomName.ExpandForDelivery(distinct), @event, data, Time.GetUtcNow().ToUnixTimeMilliseconds())
        {
            IdempotencyKey = idempotencyKey,
            Key = key,
        };
    }

    private PublishRequest[] CreateRequests(IReadOnlyList<EventToPublish> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (events.Count is 0 or > MaxBatchEvents)
            throw new ArgumentException($"A batch holds 1 to {MaxBatchEvents} events, got {events.Count}. Nothing was sent.", nameof(events));
        var requests = new PublishRequest[events.Count];
        for (var i = 0; i < requests.Length; i++)
        {
            try
            {
                var e = events[i] ?? throw new ArgumentException("The event is null.", nameof(events));
                requests[i] = CreateRequest(e);
            }
            catch (ArgumentException ex)
            {
                throw new ArgumentException($"events[{i}]: {WithoutParameterName(ex)}", nameof(events), ex);
            }
        }
        return requests;
    }

    /// <summary>An <see cref="ArgumentException"/>'s message without the " (Parameter 'x')" it appends: the batch's own exception names the parameter.</summary>
    private static string WithoutParameterName(ArgumentException ex)
    {
        var suffix = ex.ParamName is null ? null : $" (Parameter '{ex.ParamName}')";
        return suffix is not null && ex.Message.EndsWith(suffix, StringComparison.Ordinal) ? ex.Message[..^suffix.Length] : ex.Message;
    }

    private async Task<PublishedEvent> PublishCoreAsync(PublishRequest request, CancellationToken cancellationToken)
    {
        await _engineStarted.Value.ConfigureAwait(false);
        return await PublishTracedAsync(request, cancellationToken).ConfigureAwait(false);
    }

    private string EngineName => _engineName ??= Engine.GetStats().Name;

    /// <summary>The engine's publish, in a <c>moltbeat.publish</c> span when traced (<see cref="MoltBeatTracing"/>).</summary>
    private async ValueTask<PublishedEvent> PublishTracedAsync(PublishRequest request, CancellationToken cancellationToken)
    {
        using var activity = MoltBeatTracing.StartPublish(request.Rooms, request.EventName, EngineName);
        if (activity is null)
            return await Engine.PublishAsync(request, cancellationToken).ConfigureAwait(false);
        try
        {
            var published = await Engine.PublishAsync(request with { TraceParent = activity.Id }, cancellationToken).ConfigureAwait(false);
            activity.SetTag("moltbeat.offset", published.Sequence);
            if (published.Duplicate)
                activity.SetTag("moltbeat.duplicate", true);
            return published;
        }
        catch (Exception ex)
        {
            activity.SetStatus(ActivityStatusCode.Error, ex.Message);
            throw;
        }
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
