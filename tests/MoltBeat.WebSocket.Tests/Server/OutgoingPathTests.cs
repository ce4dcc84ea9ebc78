using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Tests.Server;

/// <summary>
/// The outgoing path (Server/Outgoing) over real sockets: order between replies and events delivered by
/// another thread, and coalescing of what waits behind a write that the socket holds up.
/// </summary>
public sealed class OutgoingPathTests
{
    private static string UniqueRoom(string prefix = "out") => $"{prefix}:{Guid.NewGuid():N}";

    [Fact]
    public async Task Unsubscribed_reply_follows_the_events_delivered_before_it_and_no_event_of_the_room_comes_after()
    {
        // Bounds a flooding publisher cannot reach: this is about order, not about the slow-consumer close.
        await using var server = await TestServer.StartAsync(o =>
        {
            o.FanoutWorkers = 2;
            o.MaxQueuedMessages = 100_000;
            o.MaxQueuedBytes = 64 * 1024 * 1024;
        });
        await using var client = await server.ConnectAsync("batch=1");
        var room = UniqueRoom();
        var marker = UniqueRoom("marker");
        await client.SubscribeAsync(room);
        await client.SubscribeAsync(marker);

        // Another thread publishes to the room while the client unsubscribes from it.
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var published = 0;
        var publisher = Task.Run(async () =>
        {
            for (var i = 0; i < 20_000 && !stop.IsCancellationRequested; i++)
            {
                await server.Server.PublishAsync([room], "tick", new { i });
                published = i + 1;
                if (i % 64 == 63)
                    await Task.Delay(1);
            }
        });
        await client.ReceiveEventAsync();
        await client.SendAsync($"{{\"type\":\"unsubscribe\",\"room\":\"{room}\",\"id\":99}}");
        var beforeReply = 0;
        while (true)
        {
            var message = await client.ReceiveAsync();
            if (message.GetProperty("type").GetString() == "unsubscribed")
                break;
            beforeReply++;
        }
        // Every message after the reply, up to a marker published once the publisher has stopped: none of
        // them may be an event of the room.
        await stop.CancelAsync();
        await publisher;
        server.Server.Broadcast(marker, "end", null);
        var afterReply = new List<string?>();
        while (true)
        {
            var message = await client.ReceiveAsync();
            if (message.GetProperty("room").GetString() == marker)
                break;
            afterReply.Add(message.GetProperty("room").GetString());
        }
        Assert.Empty(afterReply);
        Assert.True(published > beforeReply, $"the publisher went on after the unsubscribe ({published} published, {beforeReply} received)");
    }

    [Fact]
    public async Task Events_published_one_at_a_time_while_a_write_is_held_up_leave_together_in_order()
    {
        // A bound big enough that the held-up client is not closed: this is about what waits, not the bound.
        await using var server = await TestServer.StartAsync(o => o.MaxQueuedBytes = 64 * 1024 * 1024);
        var room = UniqueRoom();
        using var reader = await StalledSocket.ConnectAsync(server.WsUri("batch=1"));
        await reader.SendTextAsync($"{{\"type\":\"subscribe\",\"room\":\"{room}\"}}");
        var ready = await reader.ReadMessagesAsync(2, TimeSpan.FromSeconds(10)); // connected, subscribed
        Assert.Contains("\"subscribed\"", ready.Messages[1], StringComparison.Ordinal);

        // Each publish awaited before the next, as a handler would, while the client reads nothing: once its
        // socket pushes back, what follows waits for that write and joins the next one.
        const int events = 4000;
        var pad = new string('x', 1000);
        for (var i = 0; i < events; i++)
            await server.Server.PublishAsync([room], "tick", new { i, pad });

        var (messages, frames) = await reader.ReadMessagesAsync(events, TimeSpan.FromSeconds(30));
        for (var i = 0; i < events; i++)
            Assert.Contains($"\"i\":{i},", messages[i], StringComparison.Ordinal);
        Assert.True(frames < events / 2, $"{events} events in {frames} frames: what waited did not join one write");
    }
}
