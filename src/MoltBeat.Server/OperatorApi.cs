using System.Text.Json;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.Server;

/// <summary>Body of POST /api/revoke.</summary>
/// <param name="User">The user to revoke: the id its tokens carry (<c>sub</c>, <c>connected.user.userId</c>).</param>
public sealed record RevokeBody(string User);

/// <summary>Body of POST /api/unsubscribe.</summary>
/// <param name="User">The user whose subscriptions are removed.</param>
/// <param name="Room">The room whose subscriptions are removed, with those of the rooms below it (<c>room:...</c>).</param>
public sealed record UnsubscribeBody(string User, string Room);

/// <summary>Reply to POST /api/revoke.</summary>
/// <param name="Revoked">Always true.</param>
/// <param name="User">The user revoked.</param>
public sealed record RevokeResult(bool Revoked, string User);

/// <summary>Reply to POST /api/unsubscribe.</summary>
/// <param name="Unsubscribed">Always true.</param>
/// <param name="User">The user.</param>
/// <param name="Room">The room (and its subtree) removed.</param>
public sealed record UnsubscribeResult(bool Unsubscribed, string User, string Room);

/// <summary>
/// The operator API (protocol 1.1, "Revocation"): revoke a user, remove a user's subscriptions, on every node. It needs
/// the server's API key (<c>X-Api-Key</c>), and is off (503) when no API key is configured: it is never open.
/// </summary>
internal static partial class PublishApi
{
    private static void MapOperatorApi(RouteGroupBuilder api)
    {
        DescribeOperator(api.MapPost("/revoke", RevokeAsync)
            .WithSummary("Revoke a user on every node: its connections are closed with 4003, its tokens issued before now (or without iat) are refused for 24 hours. X-Api-Key only.")
            .Accepts<RevokeBody>("application/json").Produces<RevokeResult>());
        DescribeOperator(api.MapPost("/unsubscribe", UnsubscribeAsync)
            .WithSummary("Remove a user's subscriptions to a room and the rooms below it on every node ('unsubscribed' with reason 'revoked'). X-Api-Key only.")
            .Accepts<UnsubscribeBody>("application/json").Produces<UnsubscribeResult>());
    }

    private static void DescribeOperator(RouteHandlerBuilder endpoint) => endpoint
        .WithDescription("Needs X-Api-Key; 503 when the server has no --api-key (the operator API is then off), 503 too when the engine (Redis) cannot publish.")
        .Produces<ApiError>(StatusCodes.Status400BadRequest)
        .Produces<ApiError>(StatusCodes.Status401Unauthorized)
        .Produces<ApiError>(StatusCodes.Status413PayloadTooLarge)
        .Produces<ApiError>(StatusCodes.Status415UnsupportedMediaType)
        .Produces<ApiError>(StatusCodes.Status503ServiceUnavailable)
        .WithTags("operator");

    private static async Task<IResult> RevokeAsync(HttpContext http, MoltBeatWSServer server, PublishAuth auth, ServerSettings settings, ILogger<PublishAuth> logger)
    {
        if (await ReadOperatorAsync(http, auth, settings, logger) is not { } json)
            return Results.Empty; // ReadOperatorAsync wrote the error
        if (!TryGetUser(json, out var user, out var error))
            return Problem(error);
        return await RefusingBadInputAsync(async () =>
        {
            await server.RevokeUserAsync(user, http.RequestAborted);
            logger.OperatorRevoked(user, http.Connection.RemoteIpAddress?.ToString());
            return Results.Ok(new RevokeResult(true, user));
        });
    }

    private static async Task<IResult> UnsubscribeAsync(HttpContext http, MoltBeatWSServer server, PublishAuth auth, ServerSettings settings, ILogger<PublishAuth> logger)
    {
        if (await ReadOperatorAsync(http, auth, settings, logger) is not { } json)
            return Results.Empty;
        if (!TryGetUser(json, out var user, out var error))
            return Problem(error);
        if (!json.TryGetProperty("room", out var room) || room.ValueKind != JsonValueKind.String)
            return Problem("Give 'room' (a string).");
        return await RefusingBadInputAsync(async () =>
        {
            // An invalid room name is refused by the library (ArgumentException: 400 with its rule).
            await server.UnsubscribeUserAsync(user, room.GetString()!, http.RequestAborted);
            logger.OperatorUnsubscribed(user, room.GetString()!, http.Connection.RemoteIpAddress?.ToString());
            return Results.Ok(new UnsubscribeResult(true, user, room.GetString()!));
        });
    }

    private static bool TryGetUser(JsonElement json, out string user, out string error)
    {
        user = "";
        error = "";
        if (!json.TryGetProperty("user", out var value) || value.ValueKind != JsonValueKind.String || value.GetString() is not { Length: > 0 } id)
        {
            error = "Give 'user' (a non-empty string: the user id its tokens carry).";
            return false;
        }
        if (id.Length > EngineControl.MaxUserIdLength)
        {
            error = $"'user' is at most {EngineControl.MaxUserIdLength} characters.";
            return false;
        }
        user = id;
        return true;
    }

    /// <summary>Checks the API key (never open: 503 without one configured), then reads the body as a JSON object.</summary>
    private static async Task<JsonElement?> ReadOperatorAsync(HttpContext http, PublishAuth auth, ServerSettings settings, ILogger logger)
    {
        var outcome = auth.CheckOperator(http.Request);
        if (!outcome.Allowed)
        {
            logger.OperatorRefused(http.Request.Path, http.Connection.RemoteIpAddress?.ToString(), outcome.Status, outcome.Error!);
            if (outcome.Status == StatusCodes.Status401Unauthorized)
                http.Response.Headers.WWWAuthenticate = "ApiKey header=\"X-Api-Key\"";
            await WriteAsync(http, outcome.Status, outcome.Error!);
            return null;
        }
        return await ReadJsonObjectAsync(http, settings);
    }
}

/// <summary>The operator API's log messages (300+).</summary>
internal static partial class ServerAppLog
{
    [LoggerMessage(300, LogLevel.Warning, "Operator API refused {Path} from {Remote}: {Status} {Reason}")]
    public static partial void OperatorRefused(this ILogger logger, string path, string? remote, int status, string reason);

    [LoggerMessage(301, LogLevel.Information, "Operator revoked user {User} (request from {Remote})")]
    public static partial void OperatorRevoked(this ILogger logger, string user, string? remote);

    [LoggerMessage(302, LogLevel.Information, "Operator unsubscribed user {User} from {Room} and below (request from {Remote})")]
    public static partial void OperatorUnsubscribed(this ILogger logger, string user, string room, string? remote);
}
