using System.Net;
using System.Text.Json;
using MoltBeat.Server.Tests.Infrastructure;
using static MoltBeat.Server.Tests.Infrastructure.ApiRequests;

namespace MoltBeat.Server.Tests;

/// <summary><c>GET /api/rooms/{room}/history</c> (protocol 1.1) on a real server with an API key and a JWT secret.</summary>
public sealed class RoomHistoryApiTests(SecuredServer fixture) : IClassFixture<SecuredServer>
{
    private HttpClient Http => fixture.Http;

    private async Task<List<JsonElement>> PublishAndReceiveAsync(string room, int count)
    {
        await using var client = await fixture.Server.SubscribedClientAsync(room);
        for (var n = 1; n <= count; n++)
            Assert.Equal(HttpStatusCode.OK, (await Http.CallAsync(Post("/api/publish", $$$"""{"room":"{{{room}}}","event":"tick","data":{"n":{{{n}}}}}"""))).Status);
        var received = new List<JsonElement>();
        while (received.Count < count)
            received.Add(await client.ReceiveEventAsync("tick"));
        return received;
    }

    private static string Room() => $"hist:{Guid.NewGuid():N}";

    [Fact]
    public async Task The_last_events_of_a_room_are_read_over_http_exactly_as_they_were_sent_on_the_websocket()
    {
        var room = Room();
        var sent = await PublishAndReceiveAsync(room, 3);

        var (status, body) = await Http.CallAsync(Get($"/api/rooms/{room}/history?limit=2"));
        var (_, all) = await Http.CallAsync(Get($"/api/rooms/{room}/history"));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(room, body.GetProperty("room").GetString());
        Assert.Equal(3, body.GetProperty("offset").GetInt64());
        Assert.False(body.TryGetProperty("recovered", out _));
        Assert.Equal(sent.Skip(1).Select(e => e.GetRawText()), body.GetProperty("events").EnumerateArray().Select(e => e.GetRawText()));
        Assert.Equal(sent.Select(e => e.GetRawText()), all.GetProperty("events").EnumerateArray().Select(e => e.GetRawText()));
    }

    [Fact]
    public async Task History_after_a_position_returns_what_followed_it_and_a_position_of_another_epoch_is_not_recovered()
    {
        var room = Room();
        var sent = await PublishAndReceiveAsync(room, 4);
        var epoch = (await Http.CallAsync(Get($"/api/rooms/{room}"))).Body.GetProperty("epoch").GetString();

        var (_, after) = await Http.CallAsync(Get($"/api/rooms/{room}/history?epoch={epoch}&offset=1"));
        var (_, firstTwo) = await Http.CallAsync(Get($"/api/rooms/{room}/history?epoch={epoch}&offset=1&limit=2"));
        var (_, foreign) = await Http.CallAsync(Get($"/api/rooms/{room}/history?epoch=another&offset=1"));
        var (_, fresh) = await Http.CallAsync(Get($"/api/rooms/{Room()}/history"));

        Assert.True(after.GetProperty("recovered").GetBoolean());
        Assert.Equal(sent.Skip(1).Select(e => e.GetRawText()), after.GetProperty("events").EnumerateArray().Select(e => e.GetRawText()));
        Assert.Equal([2, 3], firstTwo.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("data").GetProperty("n").GetInt32()));
        Assert.Equal(4, firstTwo.GetProperty("offset").GetInt64()); // more follow: the caller asks again after offset 3
        Assert.False(foreign.GetProperty("recovered").GetBoolean());
        Assert.Empty(foreign.GetProperty("events").EnumerateArray());
        Assert.Equal(epoch, foreign.GetProperty("epoch").GetString());
        Assert.Equal(4, foreign.GetProperty("offset").GetInt64());
        Assert.Equal(0, fresh.GetProperty("offset").GetInt64());
        Assert.Empty(fresh.GetProperty("events").EnumerateArray());
    }

    [Theory]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=1001", "limit")]
    [InlineData("limit=ten", "limit")]
    [InlineData("limit=-5", "limit")]
    [InlineData("epoch=k2f9", "epoch and offset")]
    [InlineData("offset=3", "epoch and offset")]
    [InlineData("epoch=k2f9&offset=-1", "offset")]
    [InlineData("epoch=k2f9&offset=1.5", "offset")]
    public async Task History_with_a_bad_limit_or_position_is_refused_with_400_naming_it(string query, string named)
    {
        var (status, body) = await Http.CallAsync(Get($"/api/rooms/{Room()}/history?{query}"));

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(named, body.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task History_is_read_with_the_api_key_or_a_token_allowed_the_room_and_by_nobody_else()
    {
        var tenant = $"tenant:{Guid.NewGuid():N}";
        await PublishAndReceiveAsync(tenant + ":metrics", 1);
        var token = Jwt.Create(SecuredServer.Secret, new Dictionary<string, object>
        {
            ["sub"] = "dashboard",
            ["rooms"] = new[] { tenant },
            ["exp"] = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds(),
        });

        var (allowed, body) = await Http.CallAsync(Get($"/api/rooms/{tenant}:metrics/history", apiKey: null, bearer: token));
        Assert.Equal(HttpStatusCode.OK, allowed);
        Assert.Single(body.GetProperty("events").EnumerateArray());
        Assert.Equal(HttpStatusCode.Forbidden, (await Http.CallAsync(Get("/api/rooms/analytics/history", apiKey: null, bearer: token))).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Http.CallAsync(Get($"/api/rooms/{tenant}/history", apiKey: null))).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Http.CallAsync(Get($"/api/rooms/{tenant}/history", apiKey: "wrong"))).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await Http.CallAsync(Get("/api/rooms/bad%20room/history"))).Status);
    }
}
