using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Redis.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Redis.Tests;

/// <summary>The cluster view of nodes: every live node with its connections, shared by its heartbeat.</summary>
public sealed class CrossNodeNodesTests
{
    private static readonly TimeSpan Heartbeat = TimeSpan.FromMilliseconds(250);

    /// <summary>Polls <paramref name="node"/>'s view until <paramref name="done"/> holds of it; fails with the last view after 10 s.</summary>
    private static async Task<IReadOnlyList<NodeInfo>> WaitForNodesAsync(Node node, Func<IReadOnlyList<NodeInfo>, bool> done)
    {
        IReadOnlyList<NodeInfo> last = [];
        for (var deadline = DateTime.UtcNow.AddSeconds(10); DateTime.UtcNow < deadline; await Task.Delay(20))
        {
            last = await node.Server.GetNodesAsync();
            if (done(last))
                return last;
        }
        throw new TimeoutException("nodes seen: " + string.Join(", ", last.Select(n => $"{n.NodeId}={n.Connections}{(n.Self ? " (self)" : "")}")));
    }

    [Fact]
    public async Task Every_live_node_is_listed_with_its_connections_and_one_that_stops_or_dies_drops_out()
    {
        await using var cluster = await Cluster.StartAsync(3, engine: o => o.NodeHeartbeat = Heartbeat);
        await using var b1 = await cluster[1].ConnectAsync();
        await using var b2 = await cluster[1].ConnectAsync();
        await using var c1 = await cluster[2].ConnectAsync();
        await using var a1 = await cluster[0].ConnectAsync();
        string Id(int i) => cluster[i].Engine.NodeId;

        var nodes = await WaitForNodesAsync(cluster[0], v => v.Count == 3 && v.Single(n => n.NodeId == Id(1)).Connections == 2 && v.Single(n => n.NodeId == Id(2)).Connections == 1);
        // The asking node first, as of now.
        Assert.Equal(Id(0), nodes[0].NodeId);
        Assert.True(nodes[0].Self);
        Assert.Equal(1, nodes[0].Connections);
        Assert.All(nodes.Skip(1), n => Assert.False(n.Self));
        Assert.All(nodes.Skip(1), n => Assert.InRange(DateTimeOffset.UtcNow - n.LastHeartbeat, TimeSpan.Zero, TimeSpan.FromSeconds(5)));

        // A closed connection shows within a heartbeat.
        await b2.DisposeAsync();
        // (A node whose heartbeat came late under load is missing from a view for a moment: wait, do not fail.)
        await WaitForNodesAsync(cluster[0], v => v.FirstOrDefault(n => n.NodeId == Id(1)) is { Connections: 1 });

        // A node that stops leaves the view at once; one whose heartbeats stop (it died) within three heartbeats.
        await cluster[2].DisposeAsync();
        await WaitForNodesAsync(cluster[0], v => v.Count == 2 && v.All(n => n.NodeId != Id(2)));
        await cluster[1].Engine.StopHeartbeatsForTestAsync();
        var died = DateTime.UtcNow;
        await WaitForNodesAsync(cluster[0], v => v.Count == 1);
        Assert.InRange(DateTime.UtcNow - died, TimeSpan.Zero, Heartbeat * 3 + TimeSpan.FromSeconds(2));
    }
}
