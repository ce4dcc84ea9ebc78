using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Rooms;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.Server;

/// <summary>Rooms over HTTP (protocol 1.1): a room's position and subscribers, for the snapshot-then-subscribe pattern.</summary>
internal static class RoomsApi
{
    public static void MapRoomsApi(this WebApplication app)
    {
        app.MapGet("/api/rooms/{room}", GetRoomAsync)
            .WithTags("rooms")
            .WithSummary("A room's epoch, the offset of its last event and its subscribers on this node: read it, load your state, then subscribe with since {epoch, offset}.")
            .Produces<WSRoomInfo>()
            .Produces<ApiError>(StatusCodes.Status400BadRequest)
            .Produces<ApiError>(StatusCodes.Status401Unauthorized)
            .Produces<ApiError>(StatusCodes.Status403Forbidden)
            .Produces<ApiError>(StatusCodes.Status503ServiceUnavailable);
    }

    private static async Task<IResult> GetRoomAsync(string room, HttpContext http, MoltBeatWSServer server, PublishAuth auth)
    {
        if (!RoomName.IsValid(room))
            return Results.Json(new ApiError($"Invalid room: {RoomName.Rule}."), statusCode: StatusCodes.Status400BadRequest);
        var outcome = await auth.CheckReaderAsync(http.Request, room, http.RequestAborted);
        if (!outcome.Allowed)
            return Results.Json(new ApiError(outcome.Error!), statusCode: outcome.Status);
        try
        {
            return Results.Ok(await server.GetRoomAsync(room, http.RequestAborted));
        }
        catch (EngineUnavailableException ex)
        {
            return Results.Json(new ApiError(ex.Message), statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    }
}
