using System.Text.Json;
using MoltBeat.WebSocket.Redis.Tests.Infrastructure;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Redis.Tests;

public sealed class CrossNodeDeliveryTests
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    private static int N(JsonElement evt) => evt.GetProperty("data").GetProperty("n").GetInt32();

    private static long Offset(JsonElement evt, string room) => evt.GetProperty("offsets").GetProperty(room).GetInt64();

    [Fact]
    public async Task Event_published_on_one_node_reaches_room_parent_and_all_subscribers_of_every_node_once_per_connection()
    {
        await using var cluster = await Cluster.StartAsync(3);
        await using var child = await cluster[0].ConnectAsync();
        await using var parent = await cluster[1].ConnectAsync();
        await using var everything = await cluster[2].ConnectAsync();
        await using var overlapping = await cluster[1].ConnectAsync();
        await child.SubscribeAsync("analytics:agents");
        await parent.SubscribeAsync("analytics");
        await everything.SubscribeAsync("all");
        foreach (var room in new[] { "analytics:agents", "analytics", "all" })
            await overlapping.SubscribeAsync(room);

        await cluster[2].PublishAsync("analytics:agents", 1);
        await cluster[0].PublishAsync("analytics:agents", 2);

        foreach (var client in new[] { child, parent, everything, overlapping })
        {
            for (var n = 1; n <= 2; n++)
            {
                var evt = await client.ReceiveEventAsync();
                Assert.Equal(n, N(evt));
                Assert.Equal("analytics:agents", evt.GetProperty("room").GetString());
                Assert.Equal(n, Offset(evt, "analytics:agents"));
                Assert.Equal(n, Offset(evt, "analytics"));
                Assert.Equal(n, Offset(evt, "all"));
            }
            await client.AssertNothingAsync(Quiet);
        }
    }

    [Fact]
    public async Task Multi_room_publish_reaches_each_connection_once_on_every_node()
    {
        await using var cluster = await Cluster.StartAsync(2);
        await using var both = await cluster[0].ConnectAsync();
        await using var parentOnly = await cluster[1].ConnectAsync();
        await using var unrelated = await cluster[1].ConnectAsync();
        await both.SubscribeAsync("agent:1");
        await both.SubscribeAsync("analytics:agents");
        await parentOnly.SubscribeAsync("analytics");
        await unrelated.SubscribeAsync("alerts");

        await cluster[1].Server.PublishAsync(["analytics:agents", "agent:1"], "agent:created", new { n = 1 }).WaitAsync(TimeSpan.FromSeconds(10));

        foreach (var client in new[] { both, parentOnly })
        {
            var evt = await client.ReceiveEventAsync();
            Assert.Equal("analytics:agents", evt.GetProperty("room").GetString());
            Assert.Equal(["analytics:agents", "agent:1"], evt.GetProperty("rooms").EnumerateArray().Select(r => r.GetString()));
            var offsets = evt.GetProperty("offsets").EnumerateObject().Select(p => (p.Name, p.Value.GetInt64()));
            Assert.Equal([("analytics:agents", 1L), ("analytics", 1L), ("agent:1", 1L), ("agent", 1L), ("all", 1L)], offsets);
            await client.AssertNothingAsync(Quiet);
        }
        await unrelated.AssertNothingAsync(TimeSpan.FromMilliseconds(50));
    }

    [Fact]
    public async Task Broadcast_to_all_reaches_every_client_of_every_node_without_offsets()
    {
        await using var cluster = await Cluster.StartAsync(2);
        await using var first = await cluster[0].ConnectAsync();
        await using var second = await cluster[1].ConnectAsync();

        await cluster[1].Server.BroadcastAllAsync("system:notice", new { n = 1 }).WaitAsync(TimeSpan.FromSeconds(10));

        foreach (var client in new[] { first, second })
        {
            var evt = await client.ReceiveEventAsync();
            Assert.Equal(1, N(evt));
            Assert.False(evt.TryGetProperty("offsets", out _));
            await client.AssertNothingAsync(Quiet);
        }
    }

    [Fact]
    public async Task Concurrent_publishers_on_two_nodes_are_seen_in_one_offset_order_on_every_node()
    {
        const int PerNode = 150;
        await using var cluster = await Cluster.StartAsync(3);
        var clients = new List<RawClient>();
        foreach (var node in cluster.Nodes)
        {
            var client = await node.ConnectAsync();
            await client.SubscribeAsync("all");
            clients.Add(client);
        }
        try
        {
            async Task PublishMany(int node, int first)
            {
                var tasks = new List<Task>();
                for (var n = first; n < first + PerNode; n++)
                    tasks.Add(cluster[node].Server.PublishAsync(["metrics:" + node], "tick", new { n }));
                await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(20));
            }
            await Task.WhenAll(PublishMany(0, 0), PublishMany(1, 1000));

            List<int>? reference = null;
            foreach (var client in clients)
            {
                var seen = new List<int>();
                for (var i = 1; i <= 2 * PerNode; i++)
                {
                    var evt = await client.ReceiveEventAsync();
                    Assert.Equal(i, Offset(evt, "all"));
                    seen.Add(N(evt));
                }
                // Each publisher's events keep their order, and every node agrees on the interleaving.
                Assert.Equal(Enumerable.Range(0, PerNode), seen.Where(n => n < 1000));
                Assert.Equal(Enumerable.Range(1000, PerNode), seen.Where(n => n >= 1000));
                if (reference is null)
                    reference = seen;
                else
                    Assert.Equal(reference, seen);
                await client.AssertNothingAsync(TimeSpan.FromMilliseconds(100));
            }
        }
        finally
        {
            foreach (var client in clients)
                await client.DisposeAsync();
        }
    }
}
