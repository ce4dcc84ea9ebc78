using System.Diagnostics;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Redis.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Redis.Tests;

/// <summary>Subscribers counted across nodes (protocol 1.1): each node's heartbeat shares its counts in Redis.</summary>
public sealed class CrossNodeSubscribersTests
{
    private static readonly TimeSpan Heartbeat = TimeSpan.FromMilliseconds(250);

    private static Task<Cluster> StartAsync(int nodes, RedisServer? redis = null) =>
        Cluster.StartAsync(nodes, redis, engine: o => o.NodeHeartbeat = Heartbeat);

    /// <summary>Polls the node's room view until it counts <paramref name="expected"/>; fails with the last count after 10 s.</summary>
    private static async Task<TimeSpan> WaitForSubscribersAsync(Node node, string room, long expected)
    {
        var waited = Stopwatch.StartNew();
        long last = -1;
        while (waited.Elapsed < TimeSpan.FromSeconds(10))
        {
            try
            {
                last = (await node.Server.GetRoomAsync(room)).Subscribers;
                if (last == expected)
                    return waited.Elapsed;
            }
            catch (EngineUnavailableException)
            {
                // Redis is coming back.
            }
            await Task.Delay(20);
        }
        throw new TimeoutException($"{room} counted {last} subscribers, not {expected}");
    }

    [Fact]
    public async Task A_third_node_counts_the_subscribers_of_the_other_two_and_unsubscribes_lower_the_count()
    {
        await using var cluster = await StartAsync(3);
        var room = "sub:" + Guid.NewGuid().ToString("N")[..8];
        await using var a1 = await cluster[0].ConnectAsync();
        await using var a2 = await cluster[0].ConnectAsync();
        var b1 = await cluster[1].ConnectAsync();
        await a1.SubscribeAsync(room);
        await a2.SubscribeAsync(room);
        await b1.SubscribeAsync(room);

        await WaitForSubscribersAsync(cluster[2], room, 3);
        // The asking node's own subscribers count at once, without waiting for its heartbeat.
        await using var c1 = await cluster[2].ConnectAsync();
        await c1.SubscribeAsync(room);
        Assert.Equal(4, (await cluster[2].Server.GetRoomAsync(room)).Subscribers);

        var unsubscribed = await a2.RequestAsync("unsubscribe", $"\"room\":\"{room}\"");
        Assert.Equal("unsubscribed", unsubscribed.GetProperty("type").GetString());
        await WaitForSubscribersAsync(cluster[2], room, 3);
        await b1.DisposeAsync(); // a closed connection leaves its rooms
        await WaitForSubscribersAsync(cluster[2], room, 2);
        await WaitForSubscribersAsync(cluster[0], room, 2);
    }

    [Fact]
    public async Task A_node_that_stops_is_no_longer_counted_within_three_heartbeats()
    {
        await using var cluster = await StartAsync(2);
        var room = "sub:" + Guid.NewGuid().ToString("N")[..8];
        await using var client = await cluster[1].ConnectAsync();
        await client.SubscribeAsync(room);
        await WaitForSubscribersAsync(cluster[0], room, 1);

        // A node that is killed does not clean up: stop only its heartbeats, as a dead process would.
        await cluster[1].Engine.StopHeartbeatsForTestAsync();
        var dropped = await WaitForSubscribersAsync(cluster[0], room, 0);
        Assert.True(dropped < Heartbeat * 3 + TimeSpan.FromSeconds(1), $"dropped after {dropped}");
    }

    [Fact]
    public async Task A_node_whose_counts_expired_while_it_stalled_writes_them_all_again()
    {
        await using var cluster = await StartAsync(2);
        var room = "sub:" + Guid.NewGuid().ToString("N")[..8];
        await using var client = await cluster[1].ConnectAsync();
        await client.SubscribeAsync(room);
        await WaitForSubscribersAsync(cluster[0], room, 1);

        // What a heartbeat later than the time to live finds: the node's hash expired, its entry stale. Nothing
        // changed on the node meanwhile, so only noticing the expiry brings its count back.
        await RedisProbe.ExpireNodeCountsAsync(cluster, cluster[1].Engine.NodeId);

        await WaitForSubscribersAsync(cluster[0], room, 1);
    }

    [Fact]
    public async Task A_node_that_is_disposed_leaves_the_count_at_once()
    {
        await using var cluster = await StartAsync(2);
        var room = "sub:" + Guid.NewGuid().ToString("N")[..8];
        var client = await cluster[1].ConnectAsync();
        await client.SubscribeAsync(room);
        await WaitForSubscribersAsync(cluster[0], room, 1);

        await cluster[1].Engine.DisposeAsync();
        await client.DisposeAsync();
        await WaitForSubscribersAsync(cluster[0], room, 0);
    }

    [Fact]
    public async Task After_Redis_restarts_empty_the_nodes_write_their_counts_again()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = await StartAsync(2, redis);
        var room = "sub:" + Guid.NewGuid().ToString("N")[..8];
        await using var client = await cluster[1].ConnectAsync();
        await client.SubscribeAsync(room);
        await WaitForSubscribersAsync(cluster[0], room, 1);

        redis.Kill();
        await Assert.ThrowsAsync<EngineUnavailableException>(() => cluster[0].Engine.GetSubscribersAsync(room, CancellationToken.None).AsTask());
        await redis.RestartAsync();

        await WaitForSubscribersAsync(cluster[0], room, 1);
    }
}
