using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using MoltBeat.WebSocket.Auth;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.Server;

/// <summary>Body of a batch publish: <c>POST /api/publish</c> with <c>{"events":[...]}</c>.</summary>
/// <param name="Events">1 to 1000 events, each like a single publish's body, published in this order.</param>
public sealed record PublishBatchBody(IReadOnlyList<PublishBody> Events);

/// <summary>Reply to a batch publish.</summary>
/// <param name="Published">Always true.</param>
/// <param name="Results">One entry per event, in the order given.</param>
public sealed record PublishBatchResult(bool Published, IReadOnlyList<PublishBatchItemResult> Results);

/// <summary>What a batch's reply says about one of its events.</summary>
/// <param name="Offsets">The event's offset in each room it was recorded in (the rooms, their parents and <c>all</c>).</param>
/// <param name="Duplicate">
/// Present (true) only when the event repeated an <c>idempotencyKey</c> published within the last 5 minutes, or earlier in
/// this batch: it was not published now, and <c>offsets</c> are the first publish's.
/// </param>
public sealed record PublishBatchItemResult(IReadOnlyDictionary<string, long> Offsets,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] bool Duplicate = false);

internal static partial class PublishApi
{
    /// <summary>
    /// A body with <c>events</c>: every event is read and checked before any is published, so one bad event publishes nothing.
    /// Each event's <c>idempotencyKey</c> is honoured as for a single publish (an event repeating an earlier one's key is its duplicate).
    /// </summary>
    private static async Task<IResult> PublishBatchAsync(HttpContext http, MoltBeatWSServer server, JsonElement body, JsonElement events, RoomPermissions? rights)
    {
        foreach (var single in (string[])["room", "rooms", "event", "data", "idempotencyKey", "key"])
        {
            if (body.TryGetProperty(single, out _))
                return Problem($"Give either 'events' (a batch) or one event's fields, not both ('{single}' is beside 'events').");
        }
        if (events.ValueKind != JsonValueKind.Array)
            return Problem("'events' must be an array of events.");
        var count = events.GetArrayLength();
        if (count is 0 or > MoltBeatWSServer.MaxBatchEvents)
            return Problem($"'events' holds 1 to {MoltBeatWSServer.MaxBatchEvents} events, got {count}. Nothing was published.");
        var batch = new List<EventToPublish>(count);
        foreach (var item in events.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object)
                return Problem($"events[{batch.Count}]: an event is a JSON object. Nothing was published.");
            if (!TryReadEvent(item, out var parsed, out var error))
                return Problem($"events[{batch.Count}]: {error} Nothing was published.");
            if (Outside(rights, parsed.Rooms) is { } refused)
                return Forbidden($"events[{batch.Count}]: the bearer token's rooms claim does not allow '{refused}'. Nothing was published.");
            batch.Add(parsed);
        }
        // The library checks rooms, names and payload sizes of all of them before publishing the first.
        return await RefusingBadInputAsync(async () =>
        {
            var published = await server.PublishAsync(batch, http.RequestAborted);
            return Results.Ok(new PublishBatchResult(true, [.. published.Select(p => new PublishBatchItemResult(OffsetsOf(p), p.Duplicate))]));
        });
    }

    /// <summary>
    /// Adds the batch form beside the single one in the OpenAPI document: Accepts and Produces keep one
    /// type per status code, so the request body and the 200 reply become a oneOf of both.
    /// </summary>
    private static async Task DescribeBatchAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        if (operation.RequestBody?.Content?.TryGetValue("application/json", out var request) == true)
            await AddAlternativeAsync(request, typeof(PublishBatchBody), context, cancellationToken);
        if (operation.Responses?.TryGetValue("200", out var ok) == true && ok.Content?.TryGetValue("application/json", out var reply) == true)
            await AddAlternativeAsync(reply, typeof(PublishBatchResult), context, cancellationToken);
    }

    private static async Task AddAlternativeAsync(OpenApiMediaType media, Type alternative, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var schema = await context.GetOrCreateSchemaAsync(alternative, null, cancellationToken);
        context.Document!.AddComponent(alternative.Name, schema);
        media.Schema = new OpenApiSchema { OneOf = [media.Schema!, new OpenApiSchemaReference(alternative.Name, context.Document)] };
    }
}
