using System.Text.Json;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.Server;

/// <summary>
/// The HTTP API for publishers that are not .NET (the seed's "With Hono" example as a service), and
/// the health and stats endpoints.
/// </summary>
internal static class PublishApi
{
    private const int MaxBodyBytes = 128 * 1024;

    public static void MapPublishApi(this WebApplication app)
    {
        app.MapGet("/api/health", (MoltBeatWSServer server) =>
        {
            var engine = server.GetStats().Engine;
            var body = new { status = engine.Healthy ? "ok" : "degraded", engine = engine.Name, engineHealthy = engine.Healthy };
            return engine.Healthy ? Results.Ok(body) : Results.Json(body, statusCode: StatusCodes.Status503ServiceUnavailable);
        });
        app.MapGet("/api/stats", (MoltBeatWSServer server) => Results.Ok(server.GetStats()));
        app.MapPost("/api/publish", PublishAsync);
        app.MapPost("/api/broadcast", BroadcastAsync);
    }

    private static async Task<IResult> PublishAsync(HttpContext http, MoltBeatWSServer server, ServerSettings settings)
    {
        if (Refuse(http, settings) is { } refused)
            return refused;
        var (body, error) = await ReadBodyAsync(http);
        if (body is not { } json)
            return error!;
        var rooms = new List<string>();
        if (json.TryGetProperty("room", out var room) && room.ValueKind == JsonValueKind.String)
            rooms.Add(room.GetString()!);
        if (json.TryGetProperty("rooms", out var many) && many.ValueKind == JsonValueKind.Array)
            rooms.AddRange(many.EnumerateArray().Where(r => r.ValueKind == JsonValueKind.String).Select(r => r.GetString()!));
        if (rooms.Count == 0)
            return Problem("Give 'room' (a string) or 'rooms' (an array of strings).");
        if (!json.TryGetProperty("event", out var evt) || evt.ValueKind != JsonValueKind.String)
            return Problem("Give 'event' (a string).");
        var data = json.TryGetProperty("data", out var d) ? d : default;
        try
        {
            var published = await server.PublishAsync(rooms, evt.GetString()!, data.ValueKind == JsonValueKind.Undefined ? null : data, http.RequestAborted);
            var offsets = published.DeliveryRooms!.Zip(published.Offsets!).ToDictionary(p => p.First, p => p.Second);
            return Results.Ok(new { published = true, offsets });
        }
        catch (ArgumentException ex)
        {
            return Problem(ex.Message);
        }
        catch (EngineUnavailableException ex)
        {
            return Results.Json(new { error = ex.Message }, statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    }

    private static async Task<IResult> BroadcastAsync(HttpContext http, MoltBeatWSServer server, ServerSettings settings)
    {
        if (Refuse(http, settings) is { } refused)
            return refused;
        var (body, error) = await ReadBodyAsync(http);
        if (body is not { } json)
            return error!;
        if (!json.TryGetProperty("event", out var evt) || evt.ValueKind != JsonValueKind.String)
            return Problem("Give 'event' (a string).");
        var data = json.TryGetProperty("data", out var d) ? d : default;
        try
        {
            await server.BroadcastAllAsync(evt.GetString()!, data.ValueKind == JsonValueKind.Undefined ? null : data, http.RequestAborted);
            return Results.Ok(new { published = true });
        }
        catch (ArgumentException ex)
        {
            return Problem(ex.Message);
        }
    }

    private static IResult? Refuse(HttpContext http, ServerSettings settings)
    {
        if (settings.ApiKey is { } key && http.Request.Headers["X-Api-Key"] != key)
            return Results.Json(new { error = "missing or wrong X-Api-Key" }, statusCode: StatusCodes.Status401Unauthorized);
        if (http.Request.ContentLength > MaxBodyBytes)
            return Results.Json(new { error = $"body over {MaxBodyBytes} bytes" }, statusCode: StatusCodes.Status413PayloadTooLarge);
        return null;
    }

    private static async Task<(JsonElement? Body, IResult? Error)> ReadBodyAsync(HttpContext http)
    {
        try
        {
            using var doc = await JsonDocument.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                return (null, Problem("The body must be a JSON object."));
            return (doc.RootElement.Clone(), null);
        }
        catch (JsonException ex)
        {
            return (null, Problem("Malformed JSON: " + ex.Message));
        }
    }

    private static IResult Problem(string message) => Results.Json(new { error = message }, statusCode: StatusCodes.Status400BadRequest);
}
