using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Redis.Tests.Infrastructure;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.WebSocket.Redis.Tests;

/// <summary>
/// Publishes made together on one node share script calls (RedisEngine.Publish.cs): each still gets gap-free offsets in
/// the order it was made, is recorded in its rooms' histories, reaches every node once, and an idempotency key repeated
/// within one batch publishes once.
/// </summary>
public sealed class BatchedPublishTests
{
    private const int Burst = 400;

    [Fact]
    public async Task Publishes_made_together_share_script_calls_and_keep_their_order_offsets_and_delivery_on_every_node()
    {
        await using var redis = await RedisServer.StartAsync(); // its own, so that the script calls counted are this test's
        await using var cluster = await Cluster.StartAsync(2, redis);
        var room = "burst" + Guid.NewGuid().ToString("N")[..8];
        await using var watcher = await cluster[1].ConnectAsync();
        var subscribed = await watcher.SubscribeAsync(room);
        await using var local = await cluster[0].ConnectAsync();
        await local.SubscribeAsync(room + ":b");
        await cluster[0].PublishAsync(room + ":a", 0); // the rooms exist, the script is loaded
        await watcher.ReceiveEventAsync();

        var callsBefore = await RedisProbe.ScriptCallsAsync(redis);
        // Made one after the other without waiting, as a backend's concurrent requests arrive: alternately in two child rooms.
        var publishes = Enumerable.Range(1, Burst).Select(n => cluster[0].Server.PublishAsync([room + (n % 2 == 0 ? ":a" : ":b")], "tick", new { n })).ToList();
        var published = await Task.WhenAll(publishes).WaitAsync(TimeSpan.FromSeconds(30));
        var calls = await RedisProbe.ScriptCallsAsync(redis) - callsBefore;

        Assert.True(calls < Burst / 2, $"{calls} script calls for {Burst} publishes made together");
        // Each child room's offsets run on without a gap, in the order the publishes were made.
        Assert.Equal(Enumerable.Range(2, Burst / 2).Select(o => (long)o), published.Where((_, i) => (i + 1) % 2 == 0).Select(p => OffsetIn(p, room + ":a")));
        Assert.Equal(Enumerable.Range(1, Burst / 2).Select(o => (long)o), published.Where((_, i) => (i + 1) % 2 == 1).Select(p => OffsetIn(p, room + ":b")));
        // The parent room saw them all, in the order they were made.
        var parentOffset = subscribed.GetProperty("offset").GetInt64();
        Assert.Equal(Enumerable.Range(1, Burst).Select(o => parentOffset + 1 + o), published.Select(p => OffsetIn(p, room)));

        // Delivered once each, in that order, on the other node (through the parent) and on this one (one child).
        for (var n = 1; n <= Burst; n++)
        {
            var evt = await watcher.ReceiveEventAsync();
            Assert.Equal(n, evt.GetProperty("data").GetProperty("n").GetInt32());
            Assert.Equal(parentOffset + 1 + n, evt.GetProperty("offsets").GetProperty(room).GetInt64());
        }
        for (var n = 1; n <= Burst; n += 2)
            Assert.Equal(n, (await local.ReceiveEventAsync()).GetProperty("data").GetProperty("n").GetInt32());
        await watcher.AssertNothingAsync(TimeSpan.FromMilliseconds(100));
        await local.AssertNothingAsync(TimeSpan.FromMilliseconds(50));

        // Recorded: a client recovering from before the burst gets every event of its room back, in order.
        await using var late = await cluster[1].ConnectAsync();
        var since = $"{{\"epoch\":\"{subscribed.GetProperty("epoch").GetString()}\",\"offset\":{parentOffset + 1}}}";
        var recovered = await late.SubscribeAsync(room, since);
        Assert.True(recovered.GetProperty("recovered").GetBoolean());
        for (var n = 1; n <= Burst; n++)
            Assert.Equal(n, (await late.ReceiveEventAsync()).GetProperty("data").GetProperty("n").GetInt32());
    }

    [Fact]
    public async Task A_burst_longer_than_the_history_leaves_exactly_the_last_events_in_it()
    {
        await using var cluster = await Cluster.StartAsync(1, history: h => h.MaxEventsPerRoom = 50);
        var room = "trim" + Guid.NewGuid().ToString("N")[..8];
        var published = await Task.WhenAll(Enumerable.Range(1, 300).Select(n => cluster[0].Server.PublishAsync([room], "tick", new { n }))).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(50, await RedisProbe.StreamLengthAsync(cluster, room));
        var last = OffsetIn(published[^1], room);
        Assert.Equal(300, last);
        // The 50 kept are the newest: recovery from just before them works, from one earlier does not.
        await using var client = await cluster[0].ConnectAsync();
        var epoch = (await cluster[0].Server.GetRoomAsync(room)).Epoch;
        var kept = await client.SubscribeAsync(room, $"{{\"epoch\":\"{epoch}\",\"offset\":{last - 50}}}");
        Assert.True(kept.GetProperty("recovered").GetBoolean());
        Assert.Equal(251, (await client.ReceiveEventAsync()).GetProperty("data").GetProperty("n").GetInt32());
        await using var later = await cluster[0].ConnectAsync();
        var lost = await later.SubscribeAsync(room, $"{{\"epoch\":\"{epoch}\",\"offset\":{last - 51}}}");
        Assert.False(lost.GetProperty("recovered").GetBoolean());
    }

    [Fact]
    public async Task An_idempotency_key_repeated_in_one_burst_publishes_once_and_the_repeat_gets_the_first_offsets()
    {
        await using var cluster = await Cluster.StartAsync(2);
        var room = "idem" + Guid.NewGuid().ToString("N")[..8];
        await using var watcher = await cluster[1].ConnectAsync();
        await watcher.SubscribeAsync(room);
        var key = Guid.NewGuid().ToString("N");
        // Every key twice, the repeat right after the first: both wait in the same queue, most often in one batch.
        var publishes = Enumerable.Range(0, 100)
            .Select(i => cluster[0].Server.PublishAsync(new EventToPublish(room, "tick", new { n = i / 2 }) { IdempotencyKey = $"{key}-{i / 2}" }))
            .ToList();
        var published = await Task.WhenAll(publishes).WaitAsync(TimeSpan.FromSeconds(30));

        for (var i = 0; i < published.Length; i += 2)
        {
            Assert.False(published[i].Duplicate);
            Assert.True(published[i + 1].Duplicate);
            Assert.Equal(OffsetIn(published[i], room), OffsetIn(published[i + 1], room));
        }
        Assert.Equal(Enumerable.Range(1, 50).Select(o => (long)o), published.Where(p => !p.Duplicate).Select(p => OffsetIn(p, room)));
        for (var n = 0; n < 50; n++)
            Assert.Equal(n, (await watcher.ReceiveEventAsync()).GetProperty("data").GetProperty("n").GetInt32());
        await watcher.AssertNothingAsync(TimeSpan.FromMilliseconds(100));
    }

    private static long OffsetIn(PublishedEvent published, string room) =>
        published.Offsets![Array.IndexOf(published.DeliveryRooms!, room)];
}
