using System.Text.Json;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Tests.Server;

public sealed class RecoveryTests
{
    private static string Room() => $"rec:{Guid.NewGuid():N}";

    private static int N(JsonElement evt) => evt.GetProperty("data").GetProperty("n").GetInt32();

    private static string Since(string epoch, long offset) => $"{{\"epoch\":\"{epoch}\",\"offset\":{offset}}}";

    [Fact]
    public async Task Reconnecting_client_gets_exactly_the_missed_events_in_order_then_live_ones()
    {
        await using var server = await TestServer.StartAsync();
        var room = Room();
        string epoch;
        long lastOffset;
        await using (var first = await server.ConnectAsync())
        {
            epoch = (await first.SubscribeAsync(room)).GetProperty("epoch").GetString()!;
            for (var n = 1; n <= 3; n++)
                server.Server.Broadcast(room, "tick", new { n });
            JsonElement last = default;
            for (var n = 1; n <= 3; n++)
                last = await first.ReceiveEventAsync();
            lastOffset = last.GetProperty("offsets").GetProperty(room).GetInt64();
        }
        for (var n = 4; n <= 6; n++)
            server.Server.Broadcast(room, "tick", new { n });

        await using var second = await server.ConnectAsync();
        var reply = await second.SubscribeAsync(room, Since(epoch, lastOffset));
        Assert.True(reply.GetProperty("recovered").GetBoolean());
        Assert.Equal(6, reply.GetProperty("offset").GetInt64());
        server.Server.Broadcast(room, "tick", new { n = 7 });
        for (var n = 4; n <= 7; n++)
            Assert.Equal(n, N(await second.ReceiveEventAsync()));
        await second.AssertNothingAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task Wrong_epoch_answers_recovered_false_with_the_current_position()
    {
        await using var server = await TestServer.StartAsync();
        var room = Room();
        server.Server.Broadcast(room, "tick", new { n = 1 });
        await using var client = await server.ConnectAsync();
        var reply = await client.SubscribeAsync(room, Since("not-the-epoch", 0));
        Assert.False(reply.GetProperty("recovered").GetBoolean());
        Assert.Equal(1, reply.GetProperty("offset").GetInt64());
        Assert.NotEqual("not-the-epoch", reply.GetProperty("epoch").GetString());
        await client.AssertNothingAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task Position_older_than_the_history_answers_recovered_false_and_replays_nothing()
    {
        await using var server = await TestServer.StartAsync(o => o.History.MaxEventsPerRoom = 5);
        var room = Room();
        await using var probe = await server.ConnectAsync();
        var epoch = (await probe.SubscribeAsync(room)).GetProperty("epoch").GetString()!;
        for (var n = 1; n <= 20; n++)
            server.Server.Broadcast(room, "tick", new { n });
        await using var client = await server.ConnectAsync();
        var reply = await client.SubscribeAsync(room, Since(epoch, 10));
        Assert.False(reply.GetProperty("recovered").GetBoolean());
        await client.AssertNothingAsync(TimeSpan.FromMilliseconds(200));
        // Within the kept history it recovers.
        await using var recent = await server.ConnectAsync();
        Assert.True((await recent.SubscribeAsync(room, Since(epoch, 16))).GetProperty("recovered").GetBoolean());
        for (var n = 17; n <= 20; n++)
            Assert.Equal(n, N(await recent.ReceiveEventAsync()));
    }

    [Fact]
    public async Task Overlapping_replays_of_parent_and_child_rooms_deliver_each_event_once()
    {
        await using var server = await TestServer.StartAsync();
        var parent = Room();
        var child = parent + ":agents";
        string parentEpoch, childEpoch;
        await using (var first = await server.ConnectAsync())
        {
            parentEpoch = (await first.SubscribeAsync(parent)).GetProperty("epoch").GetString()!;
            childEpoch = (await first.SubscribeAsync(child)).GetProperty("epoch").GetString()!;
        }
        for (var n = 1; n <= 5; n++)
            server.Server.Broadcast(child, "tick", new { n });
        await using var client = await server.ConnectAsync();
        await client.SubscribeAsync(parent, Since(parentEpoch, 0));
        await client.SubscribeAsync(child, Since(childEpoch, 0));
        for (var n = 1; n <= 5; n++)
            Assert.Equal(n, N(await client.ReceiveEventAsync()));
        await client.AssertNothingAsync(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task Recovery_while_publishing_goes_on_has_no_gap_and_no_duplicate()
    {
        await using var server = await TestServer.StartAsync();
        var room = Room();
        const int total = 3000;
        await using var first = await server.ConnectAsync();
        var epoch = (await first.SubscribeAsync(room)).GetProperty("epoch").GetString()!;
        var publisher = Task.Run(async () =>
        {
            for (var n = 1; n <= total; n++)
            {
                server.Server.Broadcast(room, "tick", new { n });
                if (n % 100 == 0)
                    await Task.Delay(5);
            }
        });
        var received = new List<int>();
        long offset = 0;
        while (received.Count < 300)
        {
            var evt = await first.ReceiveEventAsync();
            received.Add(N(evt));
            offset = evt.GetProperty("offsets").GetProperty(room).GetInt64();
        }
        first.Socket.Abort();
        await using var second = await server.ConnectAsync();
        Assert.True((await second.SubscribeAsync(room, Since(epoch, offset))).GetProperty("recovered").GetBoolean());
        while (received.Count < total)
            received.Add(N(await second.ReceiveEventAsync()));
        await publisher;
        Assert.Equal(Enumerable.Range(1, total), received);
    }

    [Fact]
    public async Task Replay_larger_than_the_outgoing_queue_bound_is_delivered_and_does_not_trip_4009()
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            o.MaxPayloadSize = 1024;
            o.MaxQueuedBytes = 16 * 1024;
            o.MaxQueuedMessages = 20;
        });
        var room = Room();
        string epoch;
        await using (var first = await server.ConnectAsync())
            epoch = (await first.SubscribeAsync(room)).GetProperty("epoch").GetString()!;
        var pad = new string('x', 200);
        for (var n = 1; n <= 500; n++)
            server.Server.Broadcast(room, "tick", new { n, pad });

        await using var client = await server.ConnectAsync("batch=1");
        Assert.True((await client.SubscribeAsync(room, Since(epoch, 0))).GetProperty("recovered").GetBoolean());
        for (var n = 1; n <= 500; n++)
            Assert.Equal(n, N(await client.ReceiveEventAsync()));
        Assert.Equal(0, server.Server.GetStats().Recovery.SlowConsumerDisconnects);
    }

    [Fact]
    public async Task Slow_consumer_is_closed_with_4009_and_others_keep_up()
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            // The default bound: readers on a loaded CI machine must not be cut off; the stalled client
            // still passes it, as it gets more than the kernel buffers (~4 MB) plus this.
            o.MaxQueuedBytes = 1024 * 1024;
            o.MaxQueuedMessages = 10_000;
            // The close frame can only leave once the stalled client reads again: give it the time to,
            // instead of cutting the connection (which is what a real, longer stall gets).
            o.CloseTimeout = TimeSpan.FromSeconds(30);
        });
        var room = Room();
        using var slow = await StalledSocket.ConnectAsync(server.WsUri());
        await slow.SendTextAsync($"{{\"type\":\"subscribe\",\"room\":\"{room}\"}}");
        var readers = new List<RawClient>();
        for (var i = 0; i < 3; i++)
        {
            var reader = await server.ConnectAsync("batch=1");
            await reader.SubscribeAsync(room);
            readers.Add(reader);
        }
        await WaitUntilAsync(() => server.Server.GetStats().Rooms.SingleOrDefault(r => r.Room == room)?.Subscribers == 4);
        const int total = 8000;
        var pad = new string('x', 1000);
        var reading = readers.Select(async r =>
        {
            var seen = new List<int>();
            while (seen.Count < total)
                seen.Add(N(await r.ReceiveEventAsync(TimeSpan.FromSeconds(30))));
            return seen;
        }).ToArray();
        // About 8 MB to each client (more than the kernel buffers and the queue bound for the stalled one), paced so that readers keep up.
        for (var n = 1; n <= total; n++)
        {
            server.Server.Broadcast(room, "tick", new { n, pad });
            if (n % 50 == 0)
                await Task.Delay(10);
        }
        foreach (var seen in await Task.WhenAll(reading))
            Assert.Equal(Enumerable.Range(1, total), seen);
        Assert.Equal(1, server.Server.GetStats().Recovery.SlowConsumerDisconnects);
        var (code, _) = await slow.ReadUntilCloseAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(4009, code);
        slow.Dispose(); // the client goes away after the close, as a real one would
        await WaitUntilAsync(() => server.Server.GetStats().Rooms.Single(r => r.Room == room).Subscribers == 3);
        foreach (var r in readers)
            await r.DisposeAsync();
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
            await Task.Delay(25);
        Assert.True(condition());
    }
}
