using System.Globalization;
using System.Text.Json;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.Server;

/// <summary>The query of <c>GET /api/rooms/{room}/history</c>: <c>limit</c>, and <c>epoch</c> with <c>offset</c> for the events after a position.</summary>
/// <param name="Limit">How many events at most.</param>
/// <param name="After">The position the events follow; null for the last events.</param>
/// <param name="Error">Why the query is refused (400), or null.</param>
internal sealed record HistoryQuery(int Limit, StreamPosition? After, string? Error)
{
    public static HistoryQuery Parse(IQueryCollection query)
    {
        var limit = MoltBeatWSServer.DefaultHistoryLimit;
        if (query.TryGetValue("limit", out var limitText)
            && !(int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) && limit is >= 1 and <= MoltBeatWSServer.MaxHistoryLimit))
            return Refused($"limit must be an integer from 1 to {MoltBeatWSServer.MaxHistoryLimit}, got '{limitText}'.");
        var hasEpoch = query.TryGetValue("epoch", out var epoch);
        var hasOffset = query.TryGetValue("offset", out var offsetText);
        if (!hasEpoch && !hasOffset)
            return new(limit, null, null);
        if (!hasEpoch || !hasOffset || string.IsNullOrEmpty(epoch))
            return Refused("A position is epoch and offset together: ?epoch=<epoch>&offset=<offset>.");
        if (!long.TryParse(offsetText, NumberStyles.None, CultureInfo.InvariantCulture, out var offset))
            return Refused($"offset must be an integer >= 0, got '{offsetText}'.");
        return new(limit, new StreamPosition(epoch.ToString(), offset), null);
    }

    private static HistoryQuery Refused(string error) => new(0, null, error);
}

/// <summary>
/// The reply of <c>GET /api/rooms/{room}/history</c>, written by hand: each event goes out as the very bytes the
/// WebSocket sends (<see cref="MoltBeat.WebSocket.Engine.PublishedEvent.Frame"/>), never parsed and serialized again.
/// </summary>
internal static class HistoryJson
{
    public static IResult Result(WSRoomHistory history)
    {
        using var body = new MemoryStream(256 + history.Events.Sum(e => e.Frame.Length + 1));
        using (var writer = new Utf8JsonWriter(body))
        {
            writer.WriteStartObject();
            writer.WriteString("room", history.Room);
            writer.WriteString("epoch", history.Epoch);
            writer.WriteNumber("offset", history.Offset);
            if (history.Recovered is { } recovered)
                writer.WriteBoolean("recovered", recovered);
            writer.WriteStartArray("events");
            foreach (var e in history.Events)
                writer.WriteRawValue(e.Frame, skipInputValidation: true);
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        return Results.Bytes(body.ToArray(), "application/json");
    }
}

/// <summary>The shape of <c>GET /api/rooms/{room}/history</c>'s reply, for the OpenAPI document (the reply itself is written by <see cref="HistoryJson"/>).</summary>
/// <param name="Room">The room.</param>
/// <param name="Epoch">Its epoch now.</param>
/// <param name="Offset">The offset of its last event now.</param>
/// <param name="Recovered">With a position only: whether the events start right after it.</param>
/// <param name="Events">The <c>event</c> messages, oldest first, as sent on the WebSocket.</param>
public sealed record RoomHistory(string Room, string Epoch, long Offset, bool? Recovered, IReadOnlyList<JsonElement> Events);
