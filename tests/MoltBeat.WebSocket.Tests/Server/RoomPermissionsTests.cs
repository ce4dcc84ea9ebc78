using System.Text;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using MoltBeat.WebSocket.Auth;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Tests.Server;

/// <summary>The token's <c>rooms</c> claim (protocol revision 1.1), over real sockets with real JWTs.</summary>
public sealed class RoomPermissionsTests
{
    private const string Secret = "a-test-secret-for-room-permissions-0123456789";

    /// <summary>A token for user 42; <paramref name="rooms"/> is the claim's value as it goes into the payload (absent when null).</summary>
    private static string Token(object? rooms)
    {
        var now = DateTime.UtcNow;
        var claims = new Dictionary<string, object> { ["sub"] = "42" };
        if (rooms is not null)
            claims["rooms"] = rooms;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Claims = claims,
            NotBefore = now.AddMinutes(-1),
            IssuedAt = now.AddMinutes(-1),
            Expires = now.AddMinutes(10),
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(Secret)), SecurityAlgorithms.HmacSha256),
        });
    }

    private static Task<TestServer> StartAsync() =>
        TestServer.StartAsync(o => o.AuthenticateClient = new JwtAuthenticator(new JwtAuthOptions { Secret = Secret }).AsDelegate());

    private static Task<RawClient> ConnectAsync(TestServer server, object? rooms, string query = "batch=0") =>
        RawClient.ConnectReadyAsync(server.WsUri($"{query}&token={Token(rooms)}"));

    private static async Task<string> SubscribeReplyAsync(RawClient client, string room)
    {
        var reply = await client.RequestAsync("subscribe", $"\"room\":\"{room}\"");
        return reply.GetProperty("type").GetString() == "error" ? reply.GetProperty("code").GetString()! : reply.GetProperty("type").GetString()!;
    }

    [Fact]
    public async Task A_token_without_a_rooms_claim_may_subscribe_to_every_room()
    {
        await using var server = await StartAsync();
        await using var client = await ConnectAsync(server, rooms: null);
        Assert.Equal("subscribed", await SubscribeReplyAsync(client, "all"));
        Assert.Equal("subscribed", await SubscribeReplyAsync(client, "tenant:7:agents"));
    }

    [Fact]
    public async Task A_pattern_allows_its_room_and_subtree_and_refuses_parents_siblings_and_all()
    {
        await using var server = await StartAsync();
        await using var client = await ConnectAsync(server, new[] { "tenant:42", "analytics:agents" });
        Assert.Equal("subscribed", await SubscribeReplyAsync(client, "tenant:42"));
        Assert.Equal("subscribed", await SubscribeReplyAsync(client, "tenant:42:agents:7"));
        Assert.Equal("subscribed", await SubscribeReplyAsync(client, "analytics:agents"));
        Assert.Equal("forbidden", await SubscribeReplyAsync(client, "tenant:420"));
        Assert.Equal("forbidden", await SubscribeReplyAsync(client, "tenant"));
        Assert.Equal("forbidden", await SubscribeReplyAsync(client, "analytics"));
        Assert.Equal("forbidden", await SubscribeReplyAsync(client, "all"));
    }

    [Fact]
    public async Task All_is_allowed_only_with_the_star()
    {
        await using var server = await StartAsync();
        await using var admin = await ConnectAsync(server, new[] { "*" });
        Assert.Equal("subscribed", await SubscribeReplyAsync(admin, "all"));
        await using var none = await ConnectAsync(server, Array.Empty<string>());
        Assert.Equal("forbidden", await SubscribeReplyAsync(none, "all"));
        Assert.Equal("forbidden", await SubscribeReplyAsync(none, "analytics"));
    }

    public static TheoryData<string> MalformedClaims() => new()
    {
        "\"tenant:42\"",        // a string, not an array
        "[1, 2]",               // not strings
        "[\"tenant:42\", null]",
        "[\"bad room!\"]",      // not a room name
        "{\"room\":\"a\"}",
    };

    [Theory]
    [MemberData(nameof(MalformedClaims))]
    public async Task A_malformed_rooms_claim_refuses_the_token_with_4001(string claimJson)
    {
        await using var server = await StartAsync();
        using var claim = JsonDocument.Parse(claimJson);
        await using var client = await RawClient.ConnectAsync(server.WsUri("token=" + Token(claim.RootElement.Clone())));
        var (status, _, before) = await client.ReceiveCloseAsync();
        Assert.Equal(4001, (int?)status);
        Assert.Empty(before);
    }

    [Fact]
    public async Task The_same_claim_written_well_is_accepted()
    {
        // The control for the malformed cases: the claim goes into the token the same way, and only its shape differs.
        await using var server = await StartAsync();
        using var claim = JsonDocument.Parse("[\"tenant:42\"]");
        await using var client = await RawClient.ConnectReadyAsync(server.WsUri("token=" + Token(claim.RootElement.Clone())));
        Assert.Equal("forbidden", await SubscribeReplyAsync(client, "tenant:43"));
        Assert.Equal("subscribed", await SubscribeReplyAsync(client, "tenant:42"));
    }

    [Fact]
    public async Task A_refresh_that_narrows_the_rights_removes_the_rooms_and_nothing_of_them_follows_its_reply()
    {
        await using var server = await StartAsync();
        var kept = $"tenant:42:{Guid.NewGuid():N}";
        var lost = $"tenant:42:{Guid.NewGuid():N}";
        await using var client = await ConnectAsync(server, new[] { "tenant:42" }, query: "batch=1");
        await client.SubscribeAsync(kept);
        await client.SubscribeAsync(lost);

        // Events of both rooms flow while the refresh is answered.
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var published = 0;
        var publisher = Task.Run(async () =>
        {
            for (var n = 1; n <= 3000 && !stop.IsCancellationRequested; n++)
            {
                server.Server.Broadcast(kept, "tick", new { n });
                server.Server.Broadcast(lost, "tick", new { n });
                Interlocked.Increment(ref published);
                if (n % 50 == 0)
                    await Task.Delay(1);
            }
        });
        while (Volatile.Read(ref published) < 200)
            await Task.Delay(5);
        var id = client.NextId();
        await client.SendAsync($"{{\"type\":\"auth\",\"id\":{id},\"token\":\"{Token(new[] { kept })}\"}}");
        var beforeReply = new List<JsonElement>();
        var reply = await client.ReceiveUntilAsync(m => m.TryGetProperty("id", out var i) && i.GetInt32() == id, skipped: beforeReply);
        Assert.Equal("authenticated", reply.GetProperty("type").GetString());
        var removal = Assert.Single(beforeReply, m => m.GetProperty("type").GetString() == "unsubscribed");
        Assert.Equal(lost, removal.GetProperty("room").GetString());
        Assert.Equal("forbidden", removal.GetProperty("reason").GetString());
        Assert.False(removal.TryGetProperty("id", out _));

        await publisher;
        // Read what follows the reply: events of the kept room only, up to its last one.
        var after = new List<JsonElement>();
        var last = await client.ReceiveUntilAsync(m => m.GetProperty("type").GetString() == "event"
            && m.GetProperty("room").GetString() == kept && m.GetProperty("data").GetProperty("n").GetInt32() == 3000, skipped: after);
        Assert.DoesNotContain(after, m => m.TryGetProperty("room", out var r) && r.GetString() == lost);
        Assert.Contains(after, m => m.GetProperty("type").GetString() == "event");
        // A subscribe to it again is refused now.
        Assert.Equal("forbidden", await SubscribeReplyAsync(client, lost));
    }

    [Fact]
    public async Task A_refresh_that_widens_the_rights_allows_rooms_refused_before()
    {
        await using var server = await StartAsync();
        await using var client = await ConnectAsync(server, new[] { "tenant:42" });
        Assert.Equal("forbidden", await SubscribeReplyAsync(client, "tenant:43"));
        var reply = await client.RequestAsync("auth", $"\"token\":\"{Token(new[] { "tenant:42", "tenant:43" })}\"");
        Assert.Equal("authenticated", reply.GetProperty("type").GetString());
        Assert.Equal("subscribed", await SubscribeReplyAsync(client, "tenant:43"));
    }

    [Theory]
    [InlineData("tenant:42", "tenant:42", true)]
    [InlineData("tenant:42", "tenant:42:agents", true)]
    [InlineData("tenant:42", "tenant:420", false)]
    [InlineData("tenant:42", "tenant", false)]
    [InlineData("*", "all", true)]
    [InlineData("analytics", "all", false)]
    [InlineData("all", "all", true)]
    public void A_pattern_allows_exactly_its_room_and_subtree(string pattern, string room, bool allowed) =>
        Assert.Equal(allowed, RoomPermissions.From([pattern]).Allows(room));

    [Fact]
    public void An_invalid_pattern_is_refused_with_a_clear_error()
    {
        var ex = Assert.Throws<ArgumentException>(() => RoomPermissions.From(["tenant 42"]));
        Assert.Contains("'*' or a room name", ex.Message, StringComparison.Ordinal);
    }
}
