using System.Net.WebSockets;
using System.Text;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Tests.Server;

public sealed class BadInputTests
{
    private static string Code(System.Text.Json.JsonElement m) => m.GetProperty("code").GetString()!;

    [Fact]
    public async Task Malformed_json_gets_bad_request_and_the_connection_stays_open()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        await client.SendAsync("{not json");
        var error = await client.ReceiveAsync();
        Assert.Equal("error", error.GetProperty("type").GetString());
        Assert.Equal("bad_request", Code(error));
        Assert.Equal("pong", (await client.RequestAsync("ping")).GetProperty("type").GetString());
    }

    [Theory]
    [InlineData("{\"type\":\"subscribe\",\"room\":5,\"id\":3}", 3)]
    [InlineData("{\"type\":\"subscribe\",\"id\":4}", 4)]
    [InlineData("{\"type\":7,\"id\":5}", 5)]
    [InlineData("{\"room\":\"a\",\"id\":6}", 6)]
    [InlineData("{\"type\":\"subscribe\",\"room\":\"a\",\"id\":7,\"since\":\"yesterday\"}", 7)]
    [InlineData("[1,2,3]", null)]
    [InlineData("{\"type\":\"ping\",\"id\":1.5}", null)]
    [InlineData("{\"type\":\"ping\",\"id\":9007199254740992}", null)]
    public async Task Ill_typed_or_missing_fields_get_bad_request_echoing_the_id_when_readable(string message, int? id)
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        await client.SendAsync(message);
        var error = await client.ReceiveAsync();
        Assert.Equal("bad_request", Code(error));
        if (id is { } expected)
            Assert.Equal(expected, error.GetProperty("id").GetInt32());
        else
            Assert.False(error.TryGetProperty("id", out _));
    }

    [Fact]
    public async Task Field_names_written_with_json_escapes_are_understood()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        await client.SendAsync("{\"typ\\u0065\":\"ping\",\"\\u0069d\":5}");
        var pong = await client.ReceiveAsync();
        Assert.Equal("pong", pong.GetProperty("type").GetString());
        Assert.Equal(5, pong.GetProperty("id").GetInt32());
    }

    [Fact]
    public async Task Unknown_type_gets_unknown_type_and_unknown_fields_are_ignored()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        var error = await client.RequestAsync("teleport");
        Assert.Equal("unknown_type", Code(error));
        var pong = await client.RequestAsync("ping", "\"future\":{\"nested\":[1,2]}");
        Assert.Equal("pong", pong.GetProperty("type").GetString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("slash/room")]
    [InlineData("ümlaut")]
    public async Task Invalid_room_names_get_invalid_room(string room)
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        var error = await client.RequestAsync("subscribe", $"\"room\":\"{room}\"");
        Assert.Equal("invalid_room", Code(error));
    }

    [Fact]
    public async Task Room_name_of_129_characters_is_invalid_and_128_is_fine()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        Assert.Equal("invalid_room", Code(await client.RequestAsync("subscribe", $"\"room\":\"{new string('a', 129)}\"")));
        await client.SubscribeAsync(new string('a', 128));
    }

    [Fact]
    public async Task Subscriptions_past_the_limit_get_too_many_subscriptions()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxSubscriptionsPerConnection = 2);
        await using var client = await server.ConnectAsync();
        await client.SubscribeAsync("r:1");
        await client.SubscribeAsync("r:2");
        await client.SubscribeAsync("r:2"); // again: not a new subscription
        Assert.Equal("too_many_subscriptions", Code(await client.RequestAsync("subscribe", "\"room\":\"r:3\"")));
    }

    [Fact]
    public async Task Forbidden_room_is_refused_by_the_authorization_hook()
    {
        await using var server = await TestServer.StartAsync(o =>
            o.AuthorizeSubscription = (client, room, ct) => ValueTask.FromResult(!room.StartsWith("admin", StringComparison.Ordinal)));
        await using var client = await server.ConnectAsync();
        var error = await client.RequestAsync("subscribe", "\"room\":\"admin:audit\"");
        Assert.Equal("forbidden", Code(error));
        Assert.Contains("admin:audit", error.GetProperty("message").GetString());
        server.Server.Broadcast("admin:audit", "x", 1);
        await client.AssertNothingAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task Binary_frame_closes_with_1003()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        await client.SendRawAsync([1, 2, 3], WebSocketMessageType.Binary);
        var (status, _, _) = await client.ReceiveCloseAsync();
        Assert.Equal(1003, (int?)status);
    }

    [Fact]
    public async Task Message_over_the_size_limit_closes_with_1009()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxMessageSize = 1024);
        await using var client = await server.ConnectAsync();
        await client.SendAsync($"{{\"type\":\"ping\",\"pad\":\"{new string('x', 2000)}\"}}");
        var (status, _, _) = await client.ReceiveCloseAsync();
        Assert.Equal(1009, (int?)status);
    }

    [Fact]
    public async Task Fragmented_message_within_the_limit_is_reassembled()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        var bytes = Encoding.UTF8.GetBytes($"{{\"type\":\"ping\",\"id\":42,\"pad\":\"{new string('x', 3000)}\"}}");
        await client.SendRawAsync(bytes[..1000], WebSocketMessageType.Text, endOfMessage: false);
        await client.SendRawAsync(bytes[1000..], WebSocketMessageType.Text, endOfMessage: true);
        var pong = await client.ReceiveAsync();
        Assert.Equal(42, pong.GetProperty("id").GetInt32());
    }

    [Fact]
    public async Task Invalid_utf8_text_frame_closes_with_1007()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        await client.SendRawAsync([0x7b, 0xff, 0xfe, 0x7d], WebSocketMessageType.Text);
        var (status, _, _) = await client.ReceiveCloseAsync();
        Assert.Equal(1007, (int?)status);
    }

    [Fact]
    public async Task Repeated_bad_requests_close_with_1008()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxConsecutiveBadRequests = 3);
        await using var client = await server.ConnectAsync();
        for (var i = 0; i < 3; i++)
            await client.SendAsync("nope");
        var (status, _, before) = await client.ReceiveCloseAsync();
        Assert.Equal(1008, (int?)status);
        Assert.Equal(3, before.Count(m => m.GetProperty("code").GetString() == "bad_request"));
    }

    [Fact]
    public async Task Flood_is_answered_rate_limited_then_closed_with_4008()
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            o.RateLimitBurst = 10;
            o.RateLimitPerSecond = 5;
            o.RateLimitStrikes = 5;
        });
        await using var client = await server.ConnectAsync();
        for (var i = 0; i < 40 && client.Socket.State == WebSocketState.Open; i++)
        {
            try
            {
                await client.SendAsync($"{{\"type\":\"ping\",\"id\":{i + 1}}}");
            }
            catch (WebSocketException)
            {
                break;
            }
        }
        var (status, _, before) = await client.ReceiveCloseAsync();
        Assert.Equal(4008, (int?)status);
        Assert.Equal(10, before.Count(m => m.GetProperty("type").GetString() == "pong"));
        Assert.Contains(before, m => m.GetProperty("type").GetString() == "error" && m.GetProperty("code").GetString() == "rate_limited");
    }

    [Fact]
    public async Task Rate_limited_refusals_of_a_subscribe_flood_carry_each_requests_id()
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            o.RateLimitBurst = 10;
            o.RateLimitPerSecond = 1;
            o.RateLimitStrikes = 1000;
        });
        await using var client = await server.ConnectAsync();
        var room = $"flood:{Guid.NewGuid():N}";
        for (var i = 1; i <= 30; i++)
            await client.SendAsync($"{{\"type\":\"subscribe\",\"room\":\"{room}:{i}\",\"id\":{i}}}");
        var replies = new List<System.Text.Json.JsonElement>();
        while (replies.Count < 30)
            replies.Add(await client.ReceiveAsync());
        var refused = replies.Where(m => m.GetProperty("type").GetString() == "error").ToList();
        Assert.NotEmpty(refused);
        Assert.All(refused, m => Assert.Equal("rate_limited", m.GetProperty("code").GetString()));
        // Every request is answered once, with its own id: subscribed or refused.
        Assert.Equal(Enumerable.Range(1, 30), replies.Select(m => m.GetProperty("id").GetInt32()).Order());
    }

    [Fact]
    public async Task Broadcast_of_an_oversized_payload_throws_and_sends_nothing()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxPayloadSize = 1024);
        await using var client = await server.ConnectAsync();
        await client.SubscribeAsync("big:room");
        var ex = Assert.Throws<ArgumentException>(() => server.Server.Broadcast("big:room", "x", new { pad = new string('x', 2000) }));
        Assert.Contains("MaxPayloadSize", ex.Message);
        Assert.Throws<ArgumentException>(() => server.Server.Broadcast("bad room", "x", 1));
        await client.AssertNothingAsync(TimeSpan.FromMilliseconds(200));
        Assert.Equal(0, server.Server.GetStats().Engine.HistoryEvents);
    }
}
