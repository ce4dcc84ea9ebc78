using System.Net;
using MoltBeat.Server.Tests.Infrastructure;
using static MoltBeat.Server.Tests.Infrastructure.ApiRequests;

namespace MoltBeat.Server.Tests;

/// <summary><c>GET /api/rooms/{room}/presence</c> (protocol 1.1) on a real server with an API key and a JWT secret.</summary>
public sealed class RoomPresenceApiTests(SecuredServer fixture) : IClassFixture<SecuredServer>
{
    private static string Room() => $"pres:{Guid.NewGuid():N}";

    [Fact]
    public async Task Presence_lists_the_users_subscribed_with_their_connections_and_the_count()
    {
        var room = Room();
        await using var first = await fixture.Server.SubscribedClientAsync(room);
        await using var second = await fixture.Server.SubscribedClientAsync(room);

        var (status, body) = await fixture.Http.CallAsync(Get($"/api/rooms/{room}/presence"));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(room, body.GetProperty("room").GetString());
        Assert.Equal(2, body.GetProperty("subscribers").GetInt64());
        var user = Assert.Single(body.GetProperty("users").EnumerateArray());
        Assert.Equal("viewer", user.GetProperty("userId").GetString());
        Assert.Equal(2, user.GetProperty("connections").GetInt32());
    }

    [Fact]
    public async Task Presence_needs_the_api_key_or_a_token_and_a_valid_room()
    {
        var (unauthorized, _) = await fixture.Http.CallAsync(Get($"/api/rooms/{Room()}/presence", apiKey: null));
        var (invalid, error) = await fixture.Http.CallAsync(Get("/api/rooms/not%20a%20room/presence"));

        Assert.Equal(HttpStatusCode.Unauthorized, unauthorized);
        Assert.Equal(HttpStatusCode.BadRequest, invalid);
        Assert.Contains("Invalid room", error.GetProperty("error").GetString(), StringComparison.Ordinal);
    }
}
