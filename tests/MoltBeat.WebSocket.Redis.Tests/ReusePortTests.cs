using MoltBeat.WebSocket.Redis.Tests.Infrastructure;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Redis.Tests;

/// <summary>Several servers on one port (<c>SO_REUSEPORT</c>), one deployment through Redis: what holds more connections than one process may open.</summary>
public sealed class ReusePortTests
{
    [Fact]
    public async Task Servers_sharing_a_port_each_take_some_connections_and_every_client_gets_every_event()
    {
        const string Room = "metrics:shared-port";
        var port = RedisServer.FreePort();
        await using var cluster = await Cluster.StartAsync(2, server: o => (o.Port, o.ReusePort) = (port, true));
        Assert.All(cluster.Nodes, n => Assert.Equal(port, n.Server.Urls[0].Port));
        var clients = new List<RawClient>();
        try
        {
            for (var i = 0; i < 24; i++)
            {
                var client = await cluster[0].ConnectAsync(); // the shared port: the kernel picks the server
                await client.SubscribeAsync(Room);
                clients.Add(client);
            }
            var counts = cluster.Nodes.Select(n => n.Server.GetStats().TotalClients).ToArray();
            Assert.Equal(24, counts.Sum());
            // Spread by a hash of each connection's addresses: all 24 on one server would be a 1 in 8 million chance.
            Assert.All(counts, c => Assert.InRange(c, 1, 23));

            await cluster[1].PublishAsync(Room, 7);
            foreach (var client in clients)
                Assert.Equal(7, (await client.ReceiveEventAsync()).GetProperty("data").GetProperty("n").GetInt32());
        }
        finally
        {
            foreach (var client in clients)
                await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_server_without_the_option_cannot_take_a_port_others_share()
    {
        var port = RedisServer.FreePort();
        await using var cluster = await Cluster.StartAsync(1, server: o => (o.Port, o.ReusePort) = (port, true));
        var failure = await Assert.ThrowsAnyAsync<IOException>(() => Cluster.StartAsync(1, server: o => o.Port = port));
        Assert.Contains("address already in use", failure.Message, StringComparison.OrdinalIgnoreCase);
    }
}
