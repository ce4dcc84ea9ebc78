using System.Text.Json;
using MoltBeat.WebSocket.Server;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Tests.Server;

/// <summary><c>last</c> on subscribe (protocol 1.1): a dashboard opens on the room's most recent events, then live ones.</summary>
public sealed class LastEventsTests
{
    private static string Room() => $"last:{Guid.NewGuid():N}";

    private static int N(JsonElement evt) => evt.GetProperty("data").GetProperty("n").GetInt32();

    private static Task<JsonElement> SubscribeAsync(RawClient client, string room, string options) =>
        client.RequestAsync("subscribe", $"\"room\":\"{room}\",{options}");

    private static void Publish(TestServer server, string room, int from, int to)
    {
        for (var n = from; n <= to; n++)
            server.Server.Broadcast(room, "tick", new { n });
    }

    [Fact]
    public async Task Subscribe_with_last_sends_the_most_recent_events_after_subscribed_then_live_ones()
    {
        await using var server = await TestServer.StartAsync();
        var room = Room();
        Publish(server, room, 1, 5);
        await using var client = await server.ConnectAsync();

        var reply = await SubscribeAsync(client, room, "\"last\":3");
        Publish(server, room, 6, 6);

        Assert.Equal("subscribed", reply.GetProperty("type").GetString());
        Assert.Equal(3, reply.GetProperty("replay").GetInt32());
        Assert.Equal(5, reply.GetProperty("offset").GetInt64());
        Assert.False(reply.TryGetProperty("recovered", out _));
        var first = await client.ReceiveEventAsync();
        Assert.Equal(3, first.GetProperty("offsets").GetProperty(room).GetInt64());
        Assert.Equal(new[] { 3, 4, 5, 6 }, new[] { N(first), N(await client.ReceiveEventAsync()), N(await client.ReceiveEventAsync()), N(await client.ReceiveEventAsync()) });
        await client.AssertNothingAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task Last_on_a_room_with_no_history_replays_nothing()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();

        var reply = await SubscribeAsync(client, Room(), "\"last\":10");

        Assert.Equal(0, reply.GetProperty("replay").GetInt32());
        Assert.Equal(0, reply.GetProperty("offset").GetInt64());
        await client.AssertNothingAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task Last_zero_sends_no_event_but_the_reply_still_tells_the_replay()
    {
        await using var server = await TestServer.StartAsync();
        var room = Room();
        Publish(server, room, 1, 2);
        await using var client = await server.ConnectAsync();

        var reply = await SubscribeAsync(client, room, "\"last\":0");

        Assert.Equal(0, reply.GetProperty("replay").GetInt32());
        await client.AssertNothingAsync(TimeSpan.FromMilliseconds(200));
    }

    [Theory]
    [InlineData("101")]
    [InlineData("-1")]
    [InlineData("1.5")]
    [InlineData("\"3\"")]
    [InlineData("null")]
    public async Task Last_out_of_range_or_not_an_integer_is_a_bad_request_and_the_connection_stays(string last)
    {
        await using var server = await TestServer.StartAsync();
        var room = Room();
        Publish(server, room, 1, 2);
        await using var client = await server.ConnectAsync();

        var reply = await SubscribeAsync(client, room, $"\"last\":{last}");

        Assert.Equal("error", reply.GetProperty("type").GetString());
        Assert.Equal("bad_request", reply.GetProperty("code").GetString());
        Assert.Contains("'last'", reply.GetProperty("message").GetString());
        Assert.Equal("pong", (await client.RequestAsync("ping")).GetProperty("type").GetString());
        Assert.Equal(0, server.Server.GetStats().Rooms.SingleOrDefault(r => r.Room == room)?.Subscribers ?? 0);
    }

    [Fact]
    public async Task Last_beside_a_since_that_recovers_is_ignored_and_only_the_missed_events_are_sent()
    {
        await using var server = await TestServer.StartAsync();
        var room = Room();
        Publish(server, room, 1, 4);
        await using var probe = await server.ConnectAsync();
        var epoch = (await probe.SubscribeAsync(room)).GetProperty("epoch").GetString();
        Publish(server, room, 5, 5);
        await using var client = await server.ConnectAsync();

        var reply = await SubscribeAsync(client, room, $"\"since\":{{\"epoch\":\"{epoch}\",\"offset\":4}},\"last\":3");

        Assert.True(reply.GetProperty("recovered").GetBoolean());
        Assert.Equal(1, reply.GetProperty("replay").GetInt32());
        Assert.Equal(5, N(await client.ReceiveEventAsync()));
        await client.AssertNothingAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task Last_beside_a_since_that_cannot_recover_still_sends_the_last_events()
    {
        await using var server = await TestServer.StartAsync();
        var room = Room();
        Publish(server, room, 1, 4);
        await using var client = await server.ConnectAsync();

        var reply = await SubscribeAsync(client, room, "\"since\":{\"epoch\":\"another-epoch\",\"offset\":2},\"last\":2");

        Assert.False(reply.GetProperty("recovered").GetBoolean());
        Assert.Equal(2, reply.GetProperty("replay").GetInt32());
        Assert.Equal(new[] { 3, 4 }, new[] { N(await client.ReceiveEventAsync()), N(await client.ReceiveEventAsync()) });
        await client.AssertNothingAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task A_recovering_subscribe_tells_how_many_events_it_replays_and_a_plain_one_does_not()
    {
        await using var server = await TestServer.StartAsync();
        var room = Room();
        await using var probe = await server.ConnectAsync();
        var plain = await probe.SubscribeAsync(room);
        Publish(server, room, 1, 3);
        await using var client = await server.ConnectAsync();

        var recovering = await client.SubscribeAsync(room, $"{{\"epoch\":\"{plain.GetProperty("epoch").GetString()}\",\"offset\":0}}");

        Assert.False(plain.TryGetProperty("replay", out _));
        Assert.Equal(3, recovering.GetProperty("replay").GetInt32());
    }

    [Fact]
    public async Task Last_events_already_received_through_a_parent_room_are_not_sent_again_nor_counted()
    {
        await using var server = await TestServer.StartAsync();
        var parent = Room();
        var child = parent + ":cpu";
        Publish(server, child, 1, 2);
        await using var client = await server.ConnectAsync();
        await client.SubscribeAsync(parent);
        Publish(server, child, 3, 4);
        Assert.Equal(new[] { 3, 4 }, new[] { N(await client.ReceiveEventAsync()), N(await client.ReceiveEventAsync()) });

        var reply = await SubscribeAsync(client, child, "\"last\":3");

        // 2 was never sent to this connection; 3 and 4 came through the parent.
        Assert.Equal(1, reply.GetProperty("replay").GetInt32());
        Assert.Equal(2, N(await client.ReceiveEventAsync()));
        await client.AssertNothingAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task GetHistoryAsync_reads_the_last_events_or_those_after_a_position_and_refuses_a_limit_out_of_range()
    {
        await using var server = await TestServer.StartAsync();
        var room = Room();
        Publish(server, room, 1, 5);

        var last = await server.Server.GetHistoryAsync(room, limit: 2);
        var after = await server.Server.GetHistoryAsync(room, limit: 2, after: new(last.Epoch, 1));

        static int[] Ns(WSRoomHistory h) => [.. h.Events.Select(e => N(JsonDocument.Parse(e.Frame).RootElement))];
        Assert.Equal([4, 5], Ns(last));
        Assert.Null(last.Recovered);
        Assert.Equal([2, 3], Ns(after));
        Assert.True(after.Recovered);
        Assert.Equal(5, after.Offset);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => server.Server.GetHistoryAsync(room, limit: 0));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => server.Server.GetHistoryAsync(room, limit: MoltBeatWSServer.MaxHistoryLimit + 1));
        await Assert.ThrowsAsync<ArgumentException>(() => server.Server.GetHistoryAsync("bad room"));
    }
}
