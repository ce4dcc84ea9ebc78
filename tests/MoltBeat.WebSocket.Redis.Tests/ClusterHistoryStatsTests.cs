using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Redis.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Redis.Tests;

/// <summary><c>GetStats</c>'s history figures on Redis nodes: the deployment's, counted in Redis, the same on every node.</summary>
public sealed class ClusterHistoryStatsTests
{
    /// <summary>Polls until the node's figures show <paramref name="events"/> entries; fails with the last figures after 10 s.</summary>
    private static async Task<EngineStats> CountedStatsAsync(Node node, long events)
    {
        var stats = node.Server.GetStats().Engine;
        for (var deadline = DateTime.UtcNow.AddSeconds(10); DateTime.UtcNow < deadline && stats.HistoryEvents != events; await Task.Delay(20))
            stats = node.Server.GetStats().Engine;
        return stats;
    }

    [Fact]
    public async Task Every_node_reports_the_deployments_history_rooms_entries_and_bytes_from_Redis()
    {
        // Counted again when 50 ms old: the nodes' own start read the stats (zeros) before anything was published.
        await using var cluster = await Cluster.StartAsync(2, engine: o => o.HistoryStatsMaxAge = TimeSpan.FromMilliseconds(50));
        for (var n = 0; n < 4; n++)
            await cluster[0].PublishAsync("metrics:stats", n);
        for (var n = 0; n < 2; n++)
            await cluster[1].PublishAsync("alerts:stats", n);

        foreach (var node in cluster.Nodes)
        {
            var stats = await CountedStatsAsync(node, 4 * 3 + 2 * 3);
            Assert.Equal("redis", stats.Name);
            // Each event is kept in its room, the room's parent and all: metrics:stats, metrics, alerts:stats, alerts, all.
            Assert.Equal(5, stats.HistoryRooms);
            Assert.Equal(4 * 3 + 2 * 3, stats.HistoryEvents);
            Assert.InRange(stats.HistoryBytes, 5 * 100, 5 * 1024 * 1024);
        }
    }
}
