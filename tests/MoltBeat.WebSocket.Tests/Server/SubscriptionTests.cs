using MoltBeat.WebSocket.Rooms;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Tests.Server;

public sealed class SubscriptionTests
{
    private static string UniqueRoom(string prefix = "test") => $"{prefix}:{Guid.NewGuid():N}";

    [Fact]
    public async Task Connected_is_the_first_message_with_client_id_heartbeat_and_protocol_version()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await RawClient.ConnectAsync(server.WsUri());
        var connected = await client.ReceiveAsync();
        Assert.Equal("connected", connected.GetProperty("type").GetString());
        Assert.StartsWith("c_", connected.GetProperty("clientId").GetString());
        Assert.Equal(30000, connected.GetProperty("heartbeatInterval").GetInt32());
        Assert.Equal(1, connected.GetProperty("protocol").GetInt32());
    }

    [Fact]
    public async Task Subscriber_receives_a_broadcast_event_with_room_data_ts_and_offsets()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        var room = UniqueRoom("analytics");
        var reply = await client.SubscribeAsync(room);
        Assert.Equal(room, reply.GetProperty("room").GetString());
        Assert.Equal(0, reply.GetProperty("offset").GetInt64());
        Assert.False(reply.TryGetProperty("recovered", out _));

        server.Server.Broadcast(room, "agent:created", new { id = "123", name = "Agent Smith" });

        var evt = await client.ReceiveEventAsync();
        Assert.Equal(room, evt.GetProperty("room").GetString());
        Assert.Equal("agent:created", evt.GetProperty("event").GetString());
        Assert.Equal("123", evt.GetProperty("data").GetProperty("id").GetString());
        Assert.Equal("Agent Smith", evt.GetProperty("data").GetProperty("name").GetString());
        Assert.InRange(evt.GetProperty("ts").GetInt64(), DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeMilliseconds());
        var offsets = evt.GetProperty("offsets");
        Assert.Equal(1, offsets.GetProperty(room).GetInt64());
        Assert.True(offsets.GetProperty("analytics").GetInt64() >= 1);
        Assert.True(offsets.GetProperty("all").GetInt64() >= 1);
    }

    [Fact]
    public async Task Event_to_a_child_room_reaches_parent_and_all_subscribers_exactly_once()
    {
        await using var server = await TestServer.StartAsync();
        await using var both = await server.ConnectAsync();
        await using var parentOnly = await server.ConnectAsync();
        await using var other = await server.ConnectAsync();
        var parent = UniqueRoom("p");
        var child = parent + ":agents";
        await both.SubscribeAsync(parent);
        await both.SubscribeAsync(WSRoom.AllEvents);
        await both.SubscribeAsync(child);
        await parentOnly.SubscribeAsync(parent);
        await other.SubscribeAsync(UniqueRoom("elsewhere"));

        server.Server.Broadcast(child, "agent:created", new { n = 1 });
        server.Server.Broadcast(child, "agent:created", new { n = 2 });

        Assert.Equal(1, (await both.ReceiveEventAsync()).GetProperty("data").GetProperty("n").GetInt32());
        Assert.Equal(2, (await both.ReceiveEventAsync()).GetProperty("data").GetProperty("n").GetInt32());
        Assert.Equal(1, (await parentOnly.ReceiveEventAsync()).GetProperty("data").GetProperty("n").GetInt32());
        Assert.Equal(2, (await parentOnly.ReceiveEventAsync()).GetProperty("data").GetProperty("n").GetInt32());
        // Three matching subscriptions, still one copy of each event.
        await both.AssertNothingAsync(TimeSpan.FromMilliseconds(300));
        await other.AssertNothingAsync(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task Multi_room_publish_is_delivered_once_and_lists_every_room()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        var agents = UniqueRoom("a");
        var agent = WSRoom.CreateEntityRoom("agent", Guid.NewGuid().ToString("N"));
        await client.SubscribeAsync(agents);
        await client.SubscribeAsync(agent);

        server.Server.Broadcast([agents, agent], "agent:created", new { id = 1 });

        var evt = await client.ReceiveEventAsync();
        Assert.Equal(agents, evt.GetProperty("room").GetString());
        Assert.Equal([agents, agent], evt.GetProperty("rooms").EnumerateArray().Select(r => r.GetString()!).ToArray());
        Assert.Equal(1, evt.GetProperty("offsets").GetProperty(agent).GetInt64());
        await client.AssertNothingAsync(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task Unsubscribed_client_stops_receiving_and_unsubscribe_of_unknown_room_is_acknowledged()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        var room = UniqueRoom();
        await client.SubscribeAsync(room);
        var reply = await client.RequestAsync("unsubscribe", $"\"room\":\"{room}\"");
        Assert.Equal("unsubscribed", reply.GetProperty("type").GetString());
        Assert.Equal(room, reply.GetProperty("room").GetString());
        var again = await client.RequestAsync("unsubscribe", "\"room\":\"never:joined\"");
        Assert.Equal("unsubscribed", again.GetProperty("type").GetString());

        server.Server.Broadcast(room, "x", 1);
        await client.AssertNothingAsync(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task Subscribing_twice_is_not_an_error_and_events_still_arrive_once()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        var room = UniqueRoom();
        await client.SubscribeAsync(room);
        await client.SubscribeAsync(room);
        server.Server.Broadcast(room, "x", 1);
        await client.ReceiveEventAsync();
        await client.AssertNothingAsync(TimeSpan.FromMilliseconds(300));
        Assert.Equal(1, server.Server.GetStats().Rooms.Single(r => r.Room == room).Subscribers);
    }

    [Fact]
    public async Task GetRoomAsync_counts_this_nodes_subscribers_with_the_in_memory_engine()
    {
        await using var server = await TestServer.StartAsync();
        await using var first = await server.ConnectAsync();
        await using var second = await server.ConnectAsync();
        var room = UniqueRoom();
        Assert.Equal(0, (await server.Server.GetRoomAsync(room)).Subscribers);
        await first.SubscribeAsync(room);
        await second.SubscribeAsync(room);
        Assert.Equal(2, (await server.Server.GetRoomAsync(room)).Subscribers);

        await second.RequestAsync("unsubscribe", $"\"room\":\"{room}\"");
        Assert.Equal(1, (await server.Server.GetRoomAsync(room)).Subscribers);
    }

    [Fact]
    public async Task Broadcast_all_reaches_every_client_without_room_or_offsets()
    {
        await using var server = await TestServer.StartAsync();
        await using var a = await server.ConnectAsync();
        await using var b = await server.ConnectAsync();
        await a.SubscribeAsync(UniqueRoom());

        server.Server.BroadcastAll("system:maintenance", new { message = "Scheduled maintenance in 5 minutes" });

        foreach (var client in new[] { a, b })
        {
            var evt = await client.ReceiveEventAsync();
            Assert.Equal("system:maintenance", evt.GetProperty("event").GetString());
            Assert.False(evt.TryGetProperty("room", out _));
            Assert.False(evt.TryGetProperty("offsets", out _));
        }
    }

    [Fact]
    public async Task Ping_gets_pong_with_the_same_id_and_requests_without_id_get_replies_without_id()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        var pong = await client.RequestAsync("ping");
        Assert.Equal("pong", pong.GetProperty("type").GetString());
        await client.SendAsync("{\"type\":\"ping\"}");
        var bare = await client.ReceiveAsync();
        Assert.Equal("pong", bare.GetProperty("type").GetString());
        Assert.False(bare.TryGetProperty("id", out _));
    }

    [Fact]
    public async Task Stats_count_clients_rooms_and_subscribers()
    {
        await using var server = await TestServer.StartAsync();
        await using var a = await server.ConnectAsync();
        await using var b = await server.ConnectAsync();
        var room = UniqueRoom();
        await a.SubscribeAsync(room);
        await b.SubscribeAsync(room);
        await b.SubscribeAsync(WSRoom.Alerts);

        var stats = server.Server.GetStats();
        Assert.Equal(2, stats.TotalClients);
        Assert.Equal(2, stats.TotalRooms);
        Assert.Equal(2, stats.Rooms.Single(r => r.Room == room).Subscribers);
        Assert.Equal(1, stats.Rooms.Single(r => r.Room == WSRoom.Alerts).Subscribers);
    }

    [Fact]
    public async Task Batching_client_receives_several_events_in_one_frame_in_order()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync("batch=1");
        var room = UniqueRoom();
        await client.SubscribeAsync(room);
        var framesBefore = client.FramesReceived;
        // Published in one go: what arrives while the connection's worker writes joins its next write.
        for (var i = 0; i < 200; i++)
            server.Server.Broadcast(room, "tick", new { i });
        for (var i = 0; i < 200; i++)
            Assert.Equal(i, (await client.ReceiveEventAsync()).GetProperty("data").GetProperty("i").GetInt32());
        Assert.True(client.FramesReceived - framesBefore < 200, $"expected batching, got {client.FramesReceived - framesBefore} frames for 200 events");
    }

    [Fact]
    public async Task Events_on_their_own_and_in_bursts_arrive_once_and_in_order_beside_replies()
    {
        // Events far enough apart leave one frame each; events in a burst share writes (and frames, when
        // batching). Mixed, with requests answered in between, nothing may overtake anything.
        await using var server = await TestServer.StartAsync();
        await using var batching = await server.ConnectAsync("batch=1");
        await using var plain = await server.ConnectAsync("batch=0");
        var room = UniqueRoom();
        await batching.SubscribeAsync(room);
        await plain.SubscribeAsync(room);
        var published = 0;
        var pings = new List<Task>();
        for (var round = 0; round < 30; round++)
        {
            await Task.Delay(5);
            server.Server.Broadcast(room, "tick", new { i = published++ });
            await Task.Delay(5);
            server.Server.Broadcast(room, "tick", new { i = published++ });
            if (round % 3 == 0)
                pings.Add(plain.SendAsync($"{{\"type\":\"ping\",\"id\":{round + 1}}}"));
            for (var burst = 0; burst < round % 7; burst++)
                server.Server.Broadcast(room, "tick", new { i = published++ });
        }
        await Task.WhenAll(pings);
        foreach (var client in new[] { batching, plain })
        {
            var pongs = 0;
            for (var expected = 0; expected < published;)
            {
                var message = await client.ReceiveAsync();
                if (message.GetProperty("type").GetString() == "pong")
                {
                    pongs++;
                    continue;
                }
                Assert.True(message.GetProperty("type").GetString() == "event", message.GetRawText());
                Assert.Equal(expected++, message.GetProperty("data").GetProperty("i").GetInt32());
            }
            if (client == plain)
            {
                while (pongs < pings.Count)
                {
                    Assert.Equal("pong", (await client.ReceiveAsync()).GetProperty("type").GetString());
                    pongs++;
                }
            }
            await client.AssertNothingAsync(TimeSpan.FromMilliseconds(100));
        }
    }

    [Fact]
    public async Task Connect_and_disconnect_events_carry_the_client_id()
    {
        await using var server = await TestServer.StartAsync();
        var connected = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var disconnected = new TaskCompletionSource<(string, int?)>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Server.Connected += (_, e) => connected.TrySetResult(e.Id);
        server.Server.Disconnected += (_, e) => disconnected.TrySetResult((e.Id, e.CloseCode));
        var client = await server.ConnectAsync();
        Assert.Equal(client.ClientId, await connected.Task.WaitAsync(RawClient.DefaultTimeout));
        await client.DisposeAsync();
        var (id, code) = await disconnected.Task.WaitAsync(RawClient.DefaultTimeout);
        Assert.Equal(client.ClientId, id);
        Assert.Equal(1000, code);
    }
}
