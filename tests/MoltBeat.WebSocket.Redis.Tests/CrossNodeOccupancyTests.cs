using System.Collections.Concurrent;
using System.Diagnostics;
using MoltBeat.WebSocket.Redis.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Redis.Tests;

/// <summary>
/// Rooms occupied and vacated across nodes (protocol 1.1): each transition raised once in the cluster, whichever nodes
/// the subscribers are on; a node that dies leaves its rooms within a bounded time; presence and occupancy messages
/// count every node.
/// </summary>
public sealed class CrossNodeOccupancyTests
{
    private static readonly TimeSpan Heartbeat = TimeSpan.FromMilliseconds(200);

    private static Task<Cluster> StartAsync(int nodes) =>
        Cluster.StartAsync(nodes, engine: o => o.NodeHeartbeat = Heartbeat, server: o =>
        {
            o.TrackRoomOccupancy = true;
            o.RoomVacatedAfter = TimeSpan.FromSeconds(1);
        });

    private static ConcurrentQueue<(int Node, string Kind, string Room)> Record(Cluster cluster)
    {
        var events = new ConcurrentQueue<(int, string, string)>();
        for (var i = 0; i < cluster.Nodes.Count; i++)
        {
            var node = i;
            cluster[i].Server.RoomOccupied += (_, e) => events.Enqueue((node, "occupied", e.Room));
            cluster[i].Server.RoomVacated += (_, e) => events.Enqueue((node, "vacated", e.Room));
        }
        return events;
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what, int seconds = 15)
    {
        var waited = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(seconds), "never: " + what);
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Subscribers_on_two_nodes_occupy_the_room_once_and_vacate_it_once_after_both_left()
    {
        await using var cluster = await StartAsync(2);
        var events = Record(cluster);
        var room = "occ:" + Guid.NewGuid().ToString("N")[..8];

        var a = await cluster[0].ConnectAsync();
        await a.SubscribeAsync(room);
        await using var b = await cluster[1].ConnectAsync();
        await b.SubscribeAsync(room);
        await WaitUntilAsync(() => events.Any(e => e.Room == room && e.Kind == "occupied"), "occupied");
        // One node's subscriber leaving leaves the room occupied: the other node's count is in Redis.
        await a.DisposeAsync();
        await Task.Delay(2500);
        Assert.DoesNotContain(events, e => e.Room == room && e.Kind == "vacated");
        await b.DisposeAsync();
        await WaitUntilAsync(() => events.Any(e => e.Room == room && e.Kind == "vacated"), "vacated");
        await Task.Delay(1500);

        Assert.Equal(["occupied", "vacated"], events.Where(e => e.Room == room).Select(e => e.Kind));
    }

    [Fact]
    public async Task A_node_that_dies_with_the_only_subscribers_has_its_room_vacated_by_another_within_bounded_time()
    {
        await using var cluster = await StartAsync(2);
        var events = Record(cluster);
        var room = "occ:" + Guid.NewGuid().ToString("N")[..8];
        await using var client = await cluster[1].ConnectAsync();
        await client.SubscribeAsync(room);
        await WaitUntilAsync(() => events.Any(e => e.Room == room && e.Kind == "occupied"), "occupied");

        // Killed: it stops its heartbeats and tracks nothing more, its subscriber still connected to it.
        await cluster[1].Engine.StopHeartbeatsForTestAsync();
        var stopped = Stopwatch.StartNew();
        await WaitUntilAsync(() => events.Any(e => e.Room == room && e.Kind == "vacated"), "vacated by the live node");

        // (The "dead" node's own tracker still runs in this test, so either node may be the one that vacates it, once.)
        Assert.Single(events, e => e.Kind == "vacated" && e.Room == room);
        // Three heartbeats for the node to be known dead, the debounce, and a sweep.
        Assert.True(stopped.Elapsed < Heartbeat * 3 + TimeSpan.FromSeconds(1) + TimeSpan.FromSeconds(3), $"vacated after {stopped.Elapsed}");
    }

    [Fact]
    public async Task Presence_and_occupancy_messages_count_the_subscribers_of_every_node()
    {
        await using var cluster = await StartAsync(2);
        var room = "occ:" + Guid.NewGuid().ToString("N")[..8];
        await using var watcher = await cluster[0].ConnectAsync();
        var reply = await watcher.RequestAsync("subscribe", $"\"room\":\"{room}\",\"occupancy\":true");
        Assert.Equal("subscribed", reply.GetProperty("type").GetString());
        Assert.Equal(1, (await watcher.ReceiveAsync()).GetProperty("subscribers").GetInt64());
        await using var other = await cluster[1].ConnectAsync();
        await other.SubscribeAsync(room);

        // The other node's subscriber reaches node 0's count with its heartbeat, then the next reading.
        var message = await watcher.ReceiveAsync(TimeSpan.FromSeconds(5));
        var presence = await cluster[0].Server.GetPresenceAsync(room);

        Assert.Equal("occupancy", message.GetProperty("type").GetString());
        Assert.Equal(2, message.GetProperty("subscribers").GetInt64());
        Assert.Equal(2, presence.Subscribers);
        Assert.Empty(presence.Users); // anonymous connections: counted, not listed
    }
}
