using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Rooms;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.Server;

/// <summary>Rooms over HTTP (protocol 1.1): a room's position and subscribers, for the snapshot-then-subscribe pattern, its history and its presence.</summary>
internal static class RoomsApi
{
    public static void MapRoomsApi(this WebApplication app)
    {
        app.MapGet("/api/rooms/{room}", GetRoomAsync)
            .WithTags("rooms")
            .WithSummary("A room's epoch, the offset of its last event and its subscribers across every node: read it, load your state, then subscribe with since {epoch, offset}.")
            .Produces<WSRoomInfo>()
            .Produces<ApiError>(StatusCodes.Status400BadRequest)
            .Produces<ApiError>(StatusCodes.Status401Unauthorized)
            .Produces<ApiError>(StatusCodes.Status403Forbidden)
            .Produces<ApiError>(StatusCodes.Status503ServiceUnavailable);
        app.MapGet("/api/rooms/{room}/history", GetHistoryAsync)
            .WithTags("rooms")
            .WithSummary($"A room's last events (?limit=1..{MoltBeatWSServer.MaxHistoryLimit}, default {MoltBeatWSServer.DefaultHistoryLimit}), or the events after a position (?epoch=&offset=, at most limit of them), each exactly as sent on the WebSocket; recovered:false when the history no longer holds that position.")
            .Produces<RoomHistory>()
            .Produces<ApiError>(StatusCodes.Status400BadRequest)
            .Produces<ApiError>(StatusCodes.Status401Unauthorized)
            .Produces<ApiError>(StatusCodes.Status403Forbidden)
            .Produces<ApiError>(StatusCodes.Status503ServiceUnavailable);
        app.MapGet("/api/rooms/{room}/presence", GetPresenceAsync)
            .WithTags("rooms")
            .WithSummary($"Who is subscribed to a room across every node: the subscriber count and up to {MoltBeatWSServer.MaxPresenceUsers} users with their connections (most first); anonymous connections are counted, not listed.")
            .Produces<RoomPresence>()
            .Produces<ApiError>(StatusCodes.Status400BadRequest)
            .Produces<ApiError>(StatusCodes.Status401Unauthorized)
            .Produces<ApiError>(StatusCodes.Status403Forbidden)
            .Produces<ApiError>(StatusCodes.Status503ServiceUnavailable);
    }

    private static Task<IResult> GetPresenceAsync(string room, HttpContext http, MoltBeatWSServer server, PublishAuth auth) =>
        ReadRoomAsync(room, http, auth, async () => Results.Ok(await server.GetPresenceAsync(room, http.RequestAborted)));

    private static Task<IResult> GetRoomAsync(string room, HttpContext http, MoltBeatWSServer server, PublishAuth auth) =>
        ReadRoomAsync(room, http, auth, async () => Results.Ok(await server.GetRoomAsync(room, http.RequestAborted)));

    private static Task<IResult> GetHistoryAsync(string room, HttpContext http, MoltBeatWSServer server, PublishAuth auth)
    {
        var query = HistoryQuery.Parse(http.Request.Query);
        if (query.Error is { } error)
            return Task.FromResult(Results.Json(new ApiError(error), statusCode: StatusCodes.Status400BadRequest));
        return ReadRoomAsync(room, http, auth, async () =>
            HistoryJson.Result(await server.GetHistoryAsync(room, query.Limit, query.After, http.RequestAborted)));
    }

    /// <summary>The rules every room read shares: a valid name, the reader's right to the room, a 503 when the engine cannot answer.</summary>
    private static async Task<IResult> ReadRoomAsync(string room, HttpContext http, PublishAuth auth, Func<Task<IResult>> read)
    {
        if (!RoomName.IsValid(room))
            return Results.Json(new ApiError($"Invalid room: {RoomName.Rule}."), statusCode: StatusCodes.Status400BadRequest);
        var outcome = await auth.CheckReaderAsync(http.Request, room, http.RequestAborted);
        if (!outcome.Allowed)
            return Results.Json(new ApiError(outcome.Error!), statusCode: outcome.Status);
        try
        {
            return await read();
        }
        catch (EngineUnavailableException ex)
        {
            return Results.Json(new ApiError(ex.Message), statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    }
}
