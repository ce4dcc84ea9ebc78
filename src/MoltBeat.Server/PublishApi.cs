using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using MoltBeat.WebSocket.Auth;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Rooms;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.Server;

/// <summary>Body of POST /api/publish for one event, and each item of a batch: give <c>room</c> or <c>rooms</c>, and <c>event</c>; <c>data</c> is any JSON.</summary>
/// <param name="Event">The event name (1-128 characters), e.g. <c>agent:created</c>.</param>
/// <param name="Room">The room to publish to (e.g. <c>analytics:agents</c>).</param>
/// <param name="Rooms">Several rooms at once; a client subscribed to more than one gets the event once.</param>
/// <param name="Data">The payload, any JSON value.</param>
/// <param name="IdempotencyKey">
/// 1-128 characters, optional. A publish repeated with the same key within 5 minutes, on any node, is not published
/// again: the reply carries the first publish's offsets and <c>"duplicate":true</c>. Retry a publish that timed out with
/// the same key. Only the key is compared, not the rooms or data.
/// </param>
/// <param name="Key">
/// 1-128 characters, optional: the conflation key (a metric's name, an entity's id), carried on the event. A subscriber with
/// <c>maxRate</c>, or one that lags, receives only the newest waiting event of each room, event name and key.
/// </param>
/// <remarks>Only documents the body (the handler reads the JSON itself); the defaults make <c>room</c>, <c>rooms</c>, <c>data</c>, <c>idempotencyKey</c> and <c>key</c> optional in the OpenAPI schema.</remarks>
public sealed record PublishBody(string Event, string? Room = null, IReadOnlyList<string>? Rooms = null, JsonElement? Data = null, string? IdempotencyKey = null, string? Key = null);

/// <summary>Body of POST /api/broadcast: sent to every connected client, not recorded for recovery.</summary>
/// <param name="Event">The event name.</param>
/// <param name="Data">The payload, any JSON value.</param>
public sealed record BroadcastBody(string Event, JsonElement? Data);

/// <summary>Reply to a publish.</summary>
/// <param name="Published">Always true.</param>
/// <param name="Offsets">The event's offset in each room it was recorded in (the rooms, their parents and <c>all</c>).</param>
/// <param name="Duplicate">
/// Present (true) only when the publish repeated an <c>idempotencyKey</c> published within the last 5 minutes: nothing was
/// published now, and <c>offsets</c> are the first publish's.
/// </param>
public sealed record PublishResult(bool Published, IReadOnlyDictionary<string, long> Offsets,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] bool Duplicate = false);

/// <summary>Reply to a broadcast.</summary>
/// <param name="Published">Always true.</param>
public sealed record BroadcastResult(bool Published);

/// <summary>An error reply.</summary>
/// <param name="Error">What was wrong, in one sentence.</param>
public sealed record ApiError(string Error);

/// <summary>The engine's part of the health reply.</summary>
/// <param name="Name">Engine kind (<c>memory</c>, <c>redis</c>).</param>
/// <param name="Healthy">Whether it can publish now.</param>
/// <param name="HistoryRooms">Rooms with history.</param>
/// <param name="HistoryEvents">Events held in history.</param>
/// <param name="HistoryBytes">Bytes held in history.</param>
public sealed record EngineHealth(string Name, bool Healthy, int HistoryRooms, long HistoryEvents, long HistoryBytes);

/// <summary>Reply of GET /api/health.</summary>
/// <param name="Status"><c>ok</c>, <c>unhealthy</c> (engine down) or <c>stopping</c>.</param>
/// <param name="Live">The process is serving (always true when it answers).</param>
/// <param name="Ready">It can take clients and publishes: engine healthy and not shutting down. 503 when false.</param>
/// <param name="Engine">The engine's state.</param>
/// <param name="Connections">Authenticated WebSocket clients.</param>
/// <param name="UptimeSeconds">Seconds since start.</param>
public sealed record HealthReport(string Status, bool Live, bool Ready, EngineHealth Engine, int Connections, long UptimeSeconds);

/// <summary>Reply of GET /api/info.</summary>
/// <param name="Path">The WebSocket path.</param>
/// <param name="AuthRequired">WebSocket clients need a token (<c>?token=</c>).</param>
/// <param name="PublishAuthRequired">The publish API needs an API key or a bearer token.</param>
/// <param name="Demo">The demo feed is on.</param>
/// <param name="HeartbeatInterval">Heartbeat interval in milliseconds.</param>
public sealed record ServerInfo(string Path, bool AuthRequired, bool PublishAuthRequired, bool Demo, int HeartbeatInterval);

/// <summary>
/// The HTTP API for publishers that are not .NET (the seed's "With Hono" example as a service), and
/// the health and stats endpoints.
/// </summary>
internal static partial class PublishApi
{
    private static long s_started;

    public static void MapPublishApi(this WebApplication app)
    {
        s_started = Environment.TickCount64;
        var api = app.MapGroup("/api");
        var health = api.MapGroup("").WithTags("health");
        health.MapGet("/health", Health)
            .WithSummary("Liveness and readiness, with the engine's state. 503 when the engine is unhealthy or the server is stopping.")
            .Produces<HealthReport>().Produces<HealthReport>(StatusCodes.Status503ServiceUnavailable);
        health.MapGet("/health/live", () => Results.Ok(new { status = "alive" }))
            .WithSummary("Liveness only: 200 while the process serves requests.");
        health.MapGet("/health/ready", Health)
            .WithSummary("Readiness: like /api/health.")
            .Produces<HealthReport>().Produces<HealthReport>(StatusCodes.Status503ServiceUnavailable);
        health.MapGet("/info", (ServerSettings settings) => Results.Ok(new ServerInfo(
                settings.Path, settings.JwtSecret is not null, settings.PublishRequiresAuth, settings.Demo, settings.HeartbeatSeconds * 1000)))
            .WithSummary("What a client (the dashboard) needs to know: WebSocket path, whether tokens are required.")
            .Produces<ServerInfo>();
        health.MapGet("/stats", (MoltBeatWSServer server) => Results.Ok(server.GetStats()))
            .WithSummary("Clients, rooms with their subscriber counts, engine and recovery figures of this node.")
            .Produces<WSServerStats>();
        Describe(api.MapPost("/publish", PublishAsync)
            .WithSummary("Publish an event to a room or rooms, or a batch of events in order ({\"events\":[...]}); subscribers of the rooms, their parents and 'all' receive them.")
            .WithDescription($"A batch holds 1 to {MoltBeatWSServer.MaxBatchEvents} events and is checked whole first: one bad event refuses it with 400 \"events[i]: ...\" and nothing is published. " +
                $"An event with an idempotencyKey (1-{ProtocolLimits.MaxKeyLength} characters) that was published within the last {ProtocolLimits.IdempotencyWindow.TotalMinutes:0} minutes, on any node, " +
                "is not published again: its reply (or its result in a batch) carries the first publish's offsets and \"duplicate\":true. In a batch, an event repeating the key of an earlier one is its duplicate.")
            .Accepts<PublishBody>("application/json").Produces<PublishResult>()
            .AddOpenApiOperationTransformer(DescribeBatchAsync));
        Describe(api.MapPost("/broadcast", BroadcastAsync)
            .WithSummary("Send an event to every connected client (not recorded, not recovered).")
            .Accepts<BroadcastBody>("application/json").Produces<BroadcastResult>());
        MapOperatorApi(api);
    }

    private static void Describe(RouteHandlerBuilder endpoint) => endpoint
        .Produces<ApiError>(StatusCodes.Status400BadRequest)
        .Produces<ApiError>(StatusCodes.Status401Unauthorized)
        .Produces<ApiError>(StatusCodes.Status403Forbidden)
        .Produces<ApiError>(StatusCodes.Status413PayloadTooLarge)
        .Produces<ApiError>(StatusCodes.Status415UnsupportedMediaType)
        .Produces<ApiError>(StatusCodes.Status503ServiceUnavailable)
        .WithTags("publish");

    private static async Task<IResult> Health(MoltBeatWSServer server, IHostApplicationLifetime lifetime, HealthCheckService checks, CancellationToken cancellationToken)
    {
        // The library's health check decides (AddMoltBeatHealthChecks): an application hosting the library gets the same.
        var checkReport = await checks.CheckHealthAsync(cancellationToken);
        var stats = server.GetStats();
        var e = stats.Engine;
        var stopping = lifetime.ApplicationStopping.IsCancellationRequested || server.IsClosing;
        var ready = checkReport.Status == HealthStatus.Healthy && !stopping;
        var report = new HealthReport(
            stopping ? "stopping" : ready ? "ok" : "unhealthy",
            Live: true,
            ready,
            new EngineHealth(e.Name, e.Healthy, e.HistoryRooms, e.HistoryEvents, e.HistoryBytes),
            stats.TotalClients,
            (Environment.TickCount64 - s_started) / 1000);
        return Results.Json(report, statusCode: ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
    }

    private static async Task<IResult> PublishAsync(HttpContext http, MoltBeatWSServer server, PublishAuth auth, ServerSettings settings, ILogger<PublishAuth> logger)
    {
        if (await ReadAsync(http, auth, settings, logger) is not { Json: var json, Rights: var rights })
            return Results.Empty; // ReadAsync wrote the error
        if (json.TryGetProperty("events", out var events) && events.ValueKind != JsonValueKind.Null)
            return await PublishBatchAsync(http, server, json, events, rights);
        if (!TryReadEvent(json, out var parsed, out var error))
            return Problem(error);
        if (Outside(rights, parsed.Rooms) is { } refused)
            return Forbidden($"The bearer token's rooms claim does not allow '{refused}'. Nothing was published.");
        return await RefusingBadInputAsync(async () =>
        {
            var published = await server.PublishAsync(parsed, http.RequestAborted);
            return Results.Ok(new PublishResult(true, OffsetsOf(published), published.Duplicate));
        });
    }

    /// <summary>Reads one event (<c>room</c> or <c>rooms</c>, <c>event</c>, <c>data</c>, <c>idempotencyKey</c>, <c>key</c>) from a body or a batch's item, or says what is wrong.</summary>
    private static bool TryReadEvent(JsonElement json, [NotNullWhen(true)] out EventToPublish? parsed, [NotNullWhen(false)] out string? error)
    {
        parsed = null;
        var rooms = new List<string>();
        if (json.TryGetProperty("room", out var room) && room.ValueKind != JsonValueKind.Null)
        {
            if (room.ValueKind != JsonValueKind.String)
                return Refuse("'room' must be a string.", out error);
            rooms.Add(room.GetString()!);
        }
        if (json.TryGetProperty("rooms", out var many) && many.ValueKind != JsonValueKind.Null)
        {
            if (many.ValueKind != JsonValueKind.Array || many.EnumerateArray().Any(r => r.ValueKind != JsonValueKind.String))
                return Refuse("'rooms' must be an array of strings.", out error);
            if (many.GetArrayLength() > 100)
                return Refuse("'rooms' may name at most 100 rooms.", out error);
            rooms.AddRange(many.EnumerateArray().Select(r => r.GetString()!));
        }
        if (rooms.Count == 0)
            return Refuse("Give 'room' (a string) or 'rooms' (an array of strings).", out error);
        if (!json.TryGetProperty("event", out var evt) || evt.ValueKind != JsonValueKind.String)
            return Refuse("Give 'event' (a string).", out error);
        if (!TryReadKey(json, "idempotencyKey", out var idempotencyKey, out error) || !TryReadKey(json, "key", out var conflationKey, out error))
            return false;
        var data = json.TryGetProperty("data", out var d) ? d : default;
        parsed = new EventToPublish(rooms, evt.GetString()!, data.ValueKind == JsonValueKind.Undefined ? null : data)
        {
            IdempotencyKey = idempotencyKey,
            Key = conflationKey,
        };
        error = null;
        return true;

        static bool Refuse(string reason, out string error)
        {
            error = reason;
            return false;
        }
    }

    /// <summary>An optional key field (<c>key</c>, <c>idempotencyKey</c>): absent or null, or a string of 1 to <see cref="ProtocolLimits.MaxKeyLength"/> characters.</summary>
    private static bool TryReadKey(JsonElement json, string field, out string? value, [NotNullWhen(false)] out string? error)
    {
        value = null;
        error = null;
        if (!json.TryGetProperty(field, out var key) || key.ValueKind == JsonValueKind.Null)
            return true;
        if (key.ValueKind != JsonValueKind.String)
        {
            error = $"'{field}' must be a string.";
            return false;
        }
        value = key.GetString()!;
        if (value.Length is 0 or > ProtocolLimits.MaxKeyLength)
        {
            error = $"'{field}' is 1-{ProtocolLimits.MaxKeyLength} characters, got {value.Length}.";
            value = null;
            return false;
        }
        return true;
    }

    private static Dictionary<string, long> OffsetsOf(PublishedEvent published)
    {
        var offsets = new Dictionary<string, long>(StringComparer.Ordinal);
        if (published.DeliveryRooms is { } recorded && published.Offsets is { } positions)
        {
            for (var i = 0; i < recorded.Length && i < positions.Length; i++)
                offsets[recorded[i]] = positions[i];
        }
        return offsets;
    }

    /// <summary>Runs a publish, answering the library's refusals: 400 for bad input, 503 when the engine cannot publish.</summary>
    private static async Task<IResult> RefusingBadInputAsync(Func<Task<IResult>> publish)
    {
        try
        {
            return await publish();
        }
        catch (ArgumentException ex)
        {
            return Problem(ex.Message);
        }
        catch (EngineUnavailableException ex)
        {
            return Results.Json(new ApiError(ex.Message), statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    }

    private static async Task<IResult> BroadcastAsync(HttpContext http, MoltBeatWSServer server, PublishAuth auth, ServerSettings settings, ILogger<PublishAuth> logger)
    {
        if (await ReadAsync(http, auth, settings, logger) is not { Json: var json, Rights: var rights })
            return Results.Empty;
        // A broadcast reaches every client, as the `all` room does: only a token allowed `all` may send one.
        if (Outside(rights, [WSRoom.AllEvents]) is not null)
            return Forbidden("The bearer token's rooms claim does not allow a broadcast to every client ('*' or 'all' does).");
        if (!json.TryGetProperty("event", out var evt) || evt.ValueKind != JsonValueKind.String)
            return Problem("Give 'event' (a string).");
        var data = json.TryGetProperty("data", out var d) ? d : default;
        return await RefusingBadInputAsync(async () =>
        {
            await server.BroadcastAllAsync(evt.GetString()!, data.ValueKind == JsonValueKind.Undefined ? null : data, http.RequestAborted);
            return Results.Ok(new BroadcastResult(true));
        });
    }

    /// <summary>The first of <paramref name="rooms"/> that a bearer token's rooms claim does not allow; null when all are (or there is no claim).</summary>
    private static string? Outside(RoomPermissions? rights, IEnumerable<string> rooms) =>
        rights is null ? null : rooms.FirstOrDefault(room => !rights.Allows(room));

    private static IResult Forbidden(string message) => Results.Json(new ApiError(message), statusCode: StatusCodes.Status403Forbidden);

    /// <summary>
    /// Authenticates, then reads the body as a JSON object, with the rooms the caller may publish to (null: any);
    /// on failure writes the error reply and returns null.
    /// </summary>
    private static async Task<(JsonElement Json, RoomPermissions? Rights)?> ReadAsync(HttpContext http, PublishAuth auth, ServerSettings settings, ILogger logger)
    {
        var outcome = await auth.CheckAsync(http.Request, http.RequestAborted);
        if (!outcome.Allowed)
        {
            logger.PublishRefused(http.Connection.RemoteIpAddress?.ToString(), outcome.Status, outcome.Error!);
            if (outcome.Status == StatusCodes.Status401Unauthorized)
                http.Response.Headers.WWWAuthenticate = auth.Challenge;
            await WriteAsync(http, outcome.Status, outcome.Error!);
            return null;
        }
        return await ReadJsonObjectAsync(http, settings) is { } json ? (json, outcome.Rooms) : null;
    }

    /// <summary>Reads the body as a JSON object (size limit, JSON content type); on failure writes the error reply and returns null.</summary>
    private static async Task<JsonElement?> ReadJsonObjectAsync(HttpContext http, ServerSettings settings)
    {
        if (http.Request.ContentLength > settings.MaxRequestBodySize)
        {
            await WriteAsync(http, StatusCodes.Status413PayloadTooLarge, $"The body is over {settings.MaxRequestBodySize} bytes (--max-body-size).");
            return null;
        }
        // JSON only: a browser cannot send it cross-site without a preflight, so a page elsewhere cannot publish.
        if (!http.Request.HasJsonContentType())
        {
            await WriteAsync(http, StatusCodes.Status415UnsupportedMediaType, "Send Content-Type: application/json.");
            return null;
        }
        try
        {
            using var doc = await JsonDocument.ParseAsync(http.Request.Body, new JsonDocumentOptions { MaxDepth = 64 }, http.RequestAborted);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                await WriteAsync(http, StatusCodes.Status400BadRequest, "The body must be a JSON object.");
                return null;
            }
            return doc.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            await WriteAsync(http, StatusCodes.Status400BadRequest, "Malformed JSON: " + ex.Message);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            // A chunked body without Content-Length that grew past the limit.
            await WriteAsync(http, StatusCodes.Status413PayloadTooLarge, $"The body is over {settings.MaxRequestBodySize} bytes (--max-body-size).");
        }
        catch (BadHttpRequestException ex)
        {
            await WriteAsync(http, StatusCodes.Status400BadRequest, ex.Message);
        }
        return null;
    }

    private static async Task WriteAsync(HttpContext http, int status, string error)
    {
        if (http.Response.HasStarted)
            return;
        http.Response.StatusCode = status;
        await http.Response.WriteAsJsonAsync(new ApiError(error), http.RequestAborted);
    }

    private static IResult Problem(string message) => Results.Json(new ApiError(message), statusCode: StatusCodes.Status400BadRequest);
}
