using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Redis.Tests.Infrastructure;
using MoltBeat.WebSocket.Rooms;
using MoltBeat.WebSocket.Server;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Redis.Tests;

/// <summary>
/// Redis failing in ways other than going away (RedisOutageTests.cs): too slow, full, replaced by its replica. Each test
/// has redis-servers of its own, since it pauses, fills or kills them.
/// </summary>
public sealed class RedisFailureTests
{
    private static int N(JsonElement evt) => evt.GetProperty("data").GetProperty("n").GetInt32();

    private static long Offset(JsonElement evt, string room) => evt.GetProperty("offsets").GetProperty(room).GetInt64();

    private static string Since(string epoch, long offset) => $"{{\"epoch\":\"{epoch}\",\"offset\":{offset}}}";

    private static Task<PublishedEvent> PublishAsync(Node node, string room, int n, string? idempotencyKey = null) =>
        node.Server.PublishAsync(new EventToPublish(room, "tick", new { n }) { IdempotencyKey = idempotencyKey }).WaitAsync(TimeSpan.FromSeconds(10));

    private static long OffsetIn(PublishedEvent published, string room) => published.Offsets![Array.IndexOf(published.DeliveryRooms!, room)];

    /// <summary>Publishes until Redis takes it, for at most 10 s; every failure meanwhile must be the engine's clear one.</summary>
    private static async Task<PublishedEvent> PublishOnceRedisTakesItAsync(Node node, string room, int n, string? idempotencyKey = null)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await PublishAsync(node, room, n, idempotencyKey);
            }
            catch (EngineUnavailableException) when (waited.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(50);
            }
        }
    }

    /// <summary>Subscribes until Redis takes it, for at most 10 s (right after a promotion a node may still be moving to it).</summary>
    private static async Task<JsonElement> SubscribeOnceRedisTakesItAsync(RawClient client, string room, string since)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var reply = await client.RequestAsync("subscribe", $"\"room\":\"{room}\",\"since\":{since}");
            if (reply.GetProperty("type").GetString() == "subscribed" || waited.Elapsed > TimeSpan.FromSeconds(10))
                return reply;
            await Task.Delay(50);
        }
    }

    /// <summary>A client that subscribed, received events up to <paramref name="until"/> and left: the position it keeps.</summary>
    private static async Task<(string Epoch, long Offset)> ClientThatLeavesAsync(Node node, string room, Func<Task> publish, int until)
    {
        await using var client = await node.ConnectAsync();
        var epoch = (await client.SubscribeAsync(room)).GetProperty("epoch").GetString()!;
        await publish();
        long offset = 0;
        while (offset < until)
            offset = Offset(await client.ReceiveEventAsync(), room);
        return (epoch, offset);
    }

    [Fact]
    public async Task Redis_paused_past_the_operation_timeout_fails_publishes_within_it_and_loses_nothing()
    {
        const string Room = "metrics:paused";
        // Not shorter: on a loaded machine, calls of a healthy Redis took longer than 500 ms.
        var timeout = TimeSpan.FromSeconds(1);
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = await Cluster.StartAsync(2, redis, engine: o => o.OperationTimeout = timeout);
        await using var live = await cluster[0].ConnectAsync();
        await live.SubscribeAsync(Room);
        var (epoch, away) = await ClientThatLeavesAsync(cluster[1], Room, async () =>
        {
            for (var n = 1; n <= 3; n++)
                await PublishAsync(cluster[1], Room, n);
        }, until: 3);
        for (var n = 1; n <= 3; n++)
            Assert.Equal(n, N(await live.ReceiveEventAsync()));

        // 2.5 s: past the timeout, and short of the four timeouts without a reply after which the multiplexer drops the socket.
        var pause = TimeSpan.FromMilliseconds(2500);
        await redis.CommandAsync("CLIENT", "PAUSE", pause.TotalMilliseconds.ToString(CultureInfo.InvariantCulture), "ALL");
        var paused = Stopwatch.StartNew();
        async Task<TimeSpan> FailsAsync(Node node, int n)
        {
            var started = Stopwatch.StartNew();
            var failure = await Assert.ThrowsAsync<EngineUnavailableException>(() => PublishAsync(node, Room, n, $"paused-{n}"));
            Assert.Contains("did not answer the publish within 1000 ms", failure.Message, StringComparison.Ordinal);
            Assert.Contains("may still carry it out", failure.Message, StringComparison.Ordinal);
            return started.Elapsed;
        }
        var during = await Task.WhenAll(FailsAsync(cluster[1], 4), FailsAsync(cluster[0], 5));
        foreach (var took in during)
        {
            // It waited for the timeout (Redis was reachable), and not much longer.
            Assert.True(took >= timeout * 0.9, $"failed after {took}, before the timeout");
            Assert.True(took < timeout + TimeSpan.FromMilliseconds(750), $"failed after {took}, long past the timeout");
        }
        Assert.True(paused.Elapsed < pause, "the publishes failed only when the pause was over");
        // The nodes keep serving their connections meanwhile.
        Assert.Equal("pong", (await live.RequestAsync("ping")).GetProperty("type").GetString());

        // Whether Redis ran a timed-out publish after the pause or not, a retry with its key records it exactly once.
        var retried = await Task.WhenAll(
            PublishOnceRedisTakesItAsync(cluster[1], Room, 4, "paused-4"),
            PublishOnceRedisTakesItAsync(cluster[0], Room, 5, "paused-5"));
        Assert.Equal([4L, 5L], retried.Select(e => OffsetIn(e, Room)).Order());
        Assert.Equal(6, OffsetIn(await PublishAsync(cluster[1], Room, 6), Room));

        var seen = new List<int>();
        for (var offset = 4; offset <= 6; offset++)
        {
            var evt = await live.ReceiveEventAsync();
            Assert.Equal(offset, Offset(evt, Room));
            seen.Add(N(evt));
        }
        Assert.Equal([4, 5, 6], seen.Order());
        Assert.Equal(6, seen[^1]);
        await live.AssertNothingAsync(TimeSpan.FromMilliseconds(300));

        // The client that was away recovers everything after its position, once each, in the same order.
        await using var back = await cluster[0].ConnectAsync();
        var reply = await back.SubscribeAsync(Room, Since(epoch, away));
        Assert.True(reply.GetProperty("recovered").GetBoolean());
        Assert.Equal(epoch, reply.GetProperty("epoch").GetString());
        Assert.Equal(6, reply.GetProperty("offset").GetInt64());
        foreach (var n in seen)
            Assert.Equal(n, N(await back.ReceiveEventAsync()));
        await back.AssertNothingAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task Redis_out_of_memory_refuses_publishes_clearly_writes_nothing_and_continues_gap_free_once_raised()
    {
        const string Room = "metrics:full";
        await using var redis = await RedisServer.StartAsync("--maxmemory-policy", "noeviction");
        await using var cluster = await Cluster.StartAsync(2, redis);
        var keys = new RedisKeys(cluster.Prefix);
        await using var live = await cluster[0].ConnectAsync();
        await live.SubscribeAsync(Room);
        var (epoch, away) = await ClientThatLeavesAsync(cluster[1], Room, async () =>
        {
            for (var n = 1; n <= 3; n++)
                await PublishAsync(cluster[1], Room, n);
        }, until: 2);
        for (var n = 1; n <= 3; n++)
            Assert.Equal(n, N(await live.ReceiveEventAsync()));

        var used = long.Parse(await redis.InfoFieldAsync("memory", "used_memory"), CultureInfo.InvariantCulture);
        await redis.CommandAsync("CONFIG", "SET", "maxmemory", (used + 1_000_000).ToString(CultureInfo.InvariantCulture));
        // One script fills past the limit: Redis checks memory before a script's first write only.
        await redis.CommandAsync("EVAL", "for i = 1, 40 do redis.call('SET', KEYS[1] .. i, string.rep('x', 65536)) end", "1", "filler:");
        Assert.StartsWith("OOM", (await Assert.ThrowsAsync<RedisReplyException>(() => redis.CommandAsync("SET", "one-more", "x"))).Message, StringComparison.Ordinal);

        foreach (var node in cluster.Nodes)
        {
            var failure = await Assert.ThrowsAsync<EngineUnavailableException>(() => PublishAsync(node, Room, 4, "full-4"));
            Assert.Contains("is out of memory", failure.Message, StringComparison.Ordinal);
            Assert.Contains("nothing was recorded or sent", failure.Message, StringComparison.Ordinal);
        }
        // Nothing half written: not the offsets, the history, nor the idempotency key.
        Assert.Equal("3", await redis.CommandAsync("HGET", (string)keys.Meta(Room)!, "o"));
        Assert.Equal("3", await redis.CommandAsync("HGET", (string)keys.Meta(WSRoom.AllEvents)!, "o"));
        Assert.Equal("3", await redis.CommandAsync("XLEN", (string)keys.History(Room)!));
        Assert.Equal("0", await redis.CommandAsync("EXISTS", (string)keys.Idempotency("full-4")!));
        // The nodes stay connected and serve reads: the room's position and history, and a client recovering meanwhile.
        Assert.All(cluster.Nodes, node => Assert.True(node.Server.GetStats().Engine.Healthy));
        Assert.Equal("pong", (await live.RequestAsync("ping")).GetProperty("type").GetString());
        var position = await cluster[0].Server.GetRoomAsync(Room);
        Assert.Equal((epoch, 3L), (position.Epoch, position.Offset));
        Assert.Equal(3, (await cluster[1].Server.GetHistoryAsync(Room)).Events.Count);
        await using var back = await cluster[1].ConnectAsync();
        var reply = await back.SubscribeAsync(Room, Since(epoch, away));
        Assert.True(reply.GetProperty("recovered").GetBoolean());
        Assert.Equal(3, reply.GetProperty("offset").GetInt64());
        Assert.Equal(3, N(await back.ReceiveEventAsync()));
        // Starting a room Redis does not know yet needs memory: that subscribe is refused, and the connection stays.
        var refused = await back.RequestAsync("subscribe", "\"room\":\"metrics:new\"");
        Assert.Equal("error", refused.GetProperty("type").GetString());
        Assert.Equal("pong", (await back.RequestAsync("ping")).GetProperty("type").GetString());
        await live.AssertNothingAsync(TimeSpan.FromMilliseconds(200));

        await redis.CommandAsync("CONFIG", "SET", "maxmemory", "0");
        var published = await PublishAsync(cluster[1], Room, 4, "full-4");
        Assert.False(published.Duplicate);
        Assert.Equal(4, OffsetIn(published, Room));
        foreach (var client in new[] { live, back })
        {
            var evt = await client.ReceiveEventAsync();
            Assert.Equal((4, 4L), (N(evt), Offset(evt, Room)));
        }
    }

    /// <param name="after">
    /// What node 1 publishes once the subscriptions are back: nothing (the sync marker a node asks for once subscribed
    /// again shows the gap by itself), or events made together, which go out as one batched (M) message: whichever shows
    /// the gap first, the marker or the batch, the missed events come before the batch's, each once.
    /// </param>
    [Theory]
    [InlineData(0)]
    [InlineData(40)]
    public async Task Events_published_while_a_nodes_subscription_was_down_reach_its_clients_late_in_order_from_the_history(int after)
    {
        var room = "metrics:resubscribed" + after;
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = await Cluster.StartAsync(2, redis);
        await using var live = await cluster[0].ConnectAsync();
        await live.SubscribeAsync(room);
        await PublishAsync(cluster[1], room, 1);
        Assert.Equal(1, N(await live.ReceiveEventAsync()));

        // Every node's subscription drops; the command connections stay, and node 1 publishes before they are back.
        await redis.CommandAsync("CLIENT", "KILL", "TYPE", "pubsub");
        for (var n = 2; n <= 4; n++)
            await PublishAsync(cluster[1], room, n);
        await Task.WhenAll(Enumerable.Range(5, after).Select(n => cluster[1].Server.PublishAsync([room], "tick", new { n }))).WaitAsync(TimeSpan.FromSeconds(10));
        for (var n = 2; n <= 4 + after; n++)
        {
            var evt = await live.ReceiveEventAsync();
            Assert.Equal((n, (long)n), (N(evt), Offset(evt, room)));
        }
        var next = 5 + after;
        await PublishAsync(cluster[1], room, next);
        Assert.Equal(next, N(await live.ReceiveEventAsync()));
        await live.AssertNothingAsync(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task Failover_to_an_up_to_date_replica_keeps_publishing_delivering_and_recovering_in_the_same_epoch()
    {
        const string Room = "metrics:failover";
        await using var primary = await RedisServer.StartAsync();
        await using var replica = await RedisServer.StartReplicaAsync(primary);
        await using var cluster = await Cluster.StartAsync(2, primary, engine: o => Both(o, primary, replica));
        await using var live = await cluster[0].ConnectAsync();
        await live.SubscribeAsync(Room);
        var (epoch, away) = await ClientThatLeavesAsync(cluster[1], Room, async () =>
        {
            for (var n = 1; n <= 3; n++)
                await PublishAsync(cluster[1], Room, n);
        }, until: 3);
        for (var n = 1; n <= 3; n++)
            Assert.Equal(n, N(await live.ReceiveEventAsync()));
        await primary.WaitForReplicaAsync(replica);

        primary.Kill();
        // No primary until the replica is promoted: publishes fail with the engine's error, at once, and record nothing.
        // Once the node has seen the primary go, it sends them to the replica, which refuses them as read-only.
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var started = Stopwatch.StartNew();
            var failure = await Assert.ThrowsAsync<EngineUnavailableException>(() => PublishAsync(cluster[1], Room, 0));
            Assert.True(started.Elapsed < TimeSpan.FromSeconds(1), $"a publish took {started.Elapsed} to fail");
            if (failure.Message.Contains("read-only replica", StringComparison.Ordinal))
                break;
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(5), "the node still sends publishes to the lost primary");
            await Task.Delay(50);
        }
        Assert.Equal("3", await replica.CommandAsync("HGET", (string)new RedisKeys(cluster.Prefix).Meta(Room)!, "o"));
        await replica.CommandAsync("REPLICAOF", "NO", "ONE");

        Assert.Equal(4, OffsetIn(await PublishOnceRedisTakesItAsync(cluster[1], Room, 4), Room));
        Assert.Equal(5, OffsetIn(await PublishOnceRedisTakesItAsync(cluster[0], Room, 5), Room));
        // Both, in order, even when a node's subscription was still moving to the new primary as 4 was published.
        for (var n = 4; n <= 5; n++)
        {
            var evt = await live.ReceiveEventAsync();
            Assert.Equal((n, (long)n), (N(evt), Offset(evt, Room)));
        }
        await using var back = await cluster[0].ConnectAsync();
        var reply = await back.SubscribeAsync(Room, Since(epoch, away));
        Assert.True(reply.GetProperty("recovered").GetBoolean());
        Assert.Equal(epoch, reply.GetProperty("epoch").GetString());
        Assert.Equal(5, reply.GetProperty("offset").GetInt64());
        for (var n = 4; n <= 5; n++)
            Assert.Equal(n, N(await back.ReceiveEventAsync()));
        await back.AssertNothingAsync(TimeSpan.FromMilliseconds(200));
    }

    /// <summary>
    /// Redis replicates asynchronously: a replica promoted without the last events holds the offsets from before them, in
    /// the same epoch. Left alone it would give their offsets to other events (a node that delivered the lost ones takes
    /// the new ones for repeats, and a client that saw them "recovers" past events it never got). The nodes find Redis
    /// behind what they delivered, and every room starts again at a new epoch: told <c>recovered:false</c>, never a gap.
    /// </summary>
    [Fact]
    public async Task Failover_to_a_replica_that_missed_events_starts_new_epochs_so_no_client_recovers_past_a_gap()
    {
        const string Room = "metrics:lagging";
        await using var primary = await RedisServer.StartAsync();
        await using var replica = await RedisServer.StartReplicaAsync(primary);
        await using var cluster = await Cluster.StartAsync(2, primary, engine: o => Both(o, primary, replica));
        var keys = new RedisKeys(cluster.Prefix);
        await using var live = await cluster[0].ConnectAsync();
        var epoch = (await live.SubscribeAsync(Room)).GetProperty("epoch").GetString()!;
        for (var n = 1; n <= 3; n++)
            await PublishAsync(cluster[1], Room, n);
        await primary.WaitForReplicaAsync(replica);
        await replica.CutReplicationAsync();
        for (var n = 4; n <= 5; n++)
            Assert.Equal(n, OffsetIn(await PublishAsync(cluster[1], Room, n), Room));
        for (var n = 1; n <= 5; n++)
            Assert.Equal(n, N(await live.ReceiveEventAsync()));
        Assert.Equal("3", await replica.CommandAsync("HGET", (string)keys.Meta(Room)!, "o"));

        primary.Kill();
        await replica.CommandAsync("REPLICAOF", "NO", "ONE");
        // A client that saw 5 and comes back before anything new: told, with the room's new epoch, at its start.
        string restarted;
        await using (var early = await cluster[0].ConnectAsync())
        {
            var told = await SubscribeOnceRedisTakesItAsync(early, Room, Since(epoch, 5));
            Assert.False(told.GetProperty("recovered").GetBoolean());
            restarted = told.GetProperty("epoch").GetString()!;
            Assert.NotEqual(epoch, restarted);
            Assert.Equal(0, told.GetProperty("offset").GetInt64());
        }

        // Events 6 to 8 start the new epoch (offsets 1 to 3), and the live subscriber gets each of them.
        for (var n = 6; n <= 8; n++)
            Assert.Equal(n - 5, OffsetIn(await PublishOnceRedisTakesItAsync(cluster[1], Room, n), Room));
        for (var n = 6; n <= 8; n++)
        {
            var evt = await live.ReceiveEventAsync();
            Assert.Equal((n, (long)n - 5), (N(evt), Offset(evt, Room)));
        }
        // A client that saw 5 is told it cannot recover, and replays the new epoch from its start.
        await using var late = await cluster[1].ConnectAsync();
        var reply = await late.SubscribeAsync(Room, Since(epoch, 5));
        Assert.False(reply.GetProperty("recovered").GetBoolean());
        Assert.Equal((restarted, 3L), (reply.GetProperty("epoch").GetString(), reply.GetProperty("offset").GetInt64()));
        await late.AssertNothingAsync(TimeSpan.FromMilliseconds(200));
        await using var replays = await cluster[1].ConnectAsync();
        Assert.True((await replays.SubscribeAsync(Room, Since(restarted, 0))).GetProperty("recovered").GetBoolean());
        for (var n = 6; n <= 8; n++)
            Assert.Equal(n, N(await replays.ReceiveEventAsync()));
        await replays.AssertNothingAsync(TimeSpan.FromMilliseconds(200));
    }

    /// <summary>Nodes configured with both servers, as a deployment with a standby replica would be.</summary>
    private static void Both(RedisEngineOptions options, RedisServer primary, RedisServer replica)
    {
        options.Configuration = $"127.0.0.1:{primary.Port},127.0.0.1:{replica.Port},connectTimeout=2000";
        options.OperationTimeout = TimeSpan.FromSeconds(1);
    }
}
