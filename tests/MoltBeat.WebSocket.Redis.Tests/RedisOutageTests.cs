using System.Diagnostics;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Redis.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Redis.Tests;

public sealed class RedisOutageTests
{
    private static string Since(string epoch, long offset) => $"{{\"epoch\":\"{epoch}\",\"offset\":{offset}}}";

    private static async Task Eventually(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > (timeout ?? TimeSpan.FromSeconds(15)))
                Assert.Fail("Timed out waiting until " + what);
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Redis_restart_keeps_servers_up_fails_publishes_fast_and_resumes_delivery_with_new_epochs()
    {
        const string Room = "system";
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = await Cluster.StartAsync(2, redis);
        await using var stays = await cluster[0].ConnectAsync();
        await stays.SubscribeAsync(Room);
        string epoch;
        await using (var leaves = await cluster[1].ConnectAsync())
        {
            epoch = (await leaves.SubscribeAsync(Room)).GetProperty("epoch").GetString()!;
            await cluster[1].PublishAsync(Room, 1);
            Assert.Equal(1, (await leaves.ReceiveEventAsync()).GetProperty("data").GetProperty("n").GetInt32());
        }
        Assert.Equal(1, (await stays.ReceiveEventAsync()).GetProperty("data").GetProperty("n").GetInt32());

        // A publisher keeps going through the outage: it only ever sees EngineUnavailableException.
        using var stopPublishing = new CancellationTokenSource();
        var outcomes = new List<string>();
        var background = Task.Run(async () =>
        {
            for (var n = 0; !stopPublishing.IsCancellationRequested && n < 2000; n++)
            {
                try
                {
                    await cluster[n % 2].Server.PublishAsync(["metrics:background"], "tick", new { n }).WaitAsync(TimeSpan.FromSeconds(5));
                    outcomes.Add("ok");
                }
                catch (EngineUnavailableException)
                {
                    outcomes.Add("unavailable");
                }
                catch (Exception ex)
                {
                    outcomes.Add(ex.GetType().Name + ": " + ex.Message);
                }
                await Task.Delay(10);
            }
        });
        await Task.Delay(100);

        redis.Kill();
        await Eventually(() => cluster.Nodes.All(n => !n.Server.GetStats().Engine.Healthy), "both nodes report unhealthy");
        foreach (var node in cluster.Nodes)
        {
            var started = Stopwatch.StartNew();
            var failure = await Assert.ThrowsAsync<EngineUnavailableException>(() => node.PublishAsync(Room, 2));
            Assert.True(started.Elapsed < TimeSpan.FromSeconds(1), $"publish took {started.Elapsed} to fail");
            Assert.Contains("unreachable", failure.Message, StringComparison.Ordinal);
        }
        // The node still serves its connections.
        var pong = await stays.RequestAsync("ping");
        Assert.Equal("pong", pong.GetProperty("type").GetString());

        await redis.RestartAsync();
        await Eventually(() => cluster.Nodes.All(n => n.Server.GetStats().Engine.Healthy), "both nodes are healthy again");
        await Task.Delay(200);
        await stopPublishing.CancelAsync();
        await background.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.All(outcomes, o => Assert.True(o is "ok" or "unavailable", o));
        Assert.Contains("unavailable", outcomes);
        Assert.Equal("ok", outcomes[^1]);
        // Delivery resumes by itself across nodes.
        await RetryPublishAsync(cluster[1], Room, 3);
        var resumed = await stays.ReceiveEventAsync();
        Assert.Equal(3, resumed.GetProperty("data").GetProperty("n").GetInt32());
        Assert.Equal(1, resumed.GetProperty("offsets").GetProperty(Room).GetInt64());

        // Redis restarted empty: the client that was away cannot recover, and is told so with a new epoch.
        await using var back = await cluster[0].ConnectAsync();
        var reply = await back.SubscribeAsync(Room, Since(epoch, 1));
        Assert.False(reply.GetProperty("recovered").GetBoolean());
        Assert.NotEqual(epoch, reply.GetProperty("epoch").GetString());
        Assert.Equal(1, reply.GetProperty("offset").GetInt64());
        await back.AssertNothingAsync(TimeSpan.FromMilliseconds(200));
        // And one that followed the new epoch recovers from history on the other node.
        var newEpoch = reply.GetProperty("epoch").GetString()!;
        await cluster[0].PublishAsync(Room, 4);
        await using var other = await cluster[1].ConnectAsync();
        Assert.True((await other.SubscribeAsync(Room, Since(newEpoch, 1))).GetProperty("recovered").GetBoolean());
        Assert.Equal(4, (await other.ReceiveEventAsync()).GetProperty("data").GetProperty("n").GetInt32());
    }

    private static async Task RetryPublishAsync(Node node, string room, int n)
    {
        // The multiplexer can report connected a moment before every script and subscription is back.
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await node.PublishAsync(room, n);
                return;
            }
            catch (EngineUnavailableException) when (attempt < 20)
            {
                await Task.Delay(100);
            }
        }
    }

    [Fact]
    public async Task Server_starts_and_serves_local_clients_while_Redis_is_unreachable()
    {
        await using var redis = await RedisServer.StartAsync();
        redis.Kill(); // a port where nothing listens
        var engine = new RedisEngine(new RedisEngineOptions { Configuration = redis.Configuration + ",connectTimeout=300", KeyPrefix = "down" });
        await using var node = await Node.StartAsync(engine);
        Assert.False(node.Server.GetStats().Engine.Healthy);
        Assert.Equal("redis", node.Server.GetStats().Engine.Name);
        await using var client = await node.ConnectAsync();
        Assert.Equal("pong", (await client.RequestAsync("ping")).GetProperty("type").GetString());
        await Assert.ThrowsAsync<EngineUnavailableException>(() => node.PublishAsync("system", 1));
        // A subscribe cannot be attached without Redis: the client is told, and the connection stays.
        var error = await client.RequestAsync("subscribe", "\"room\":\"system\"");
        Assert.Equal("error", error.GetProperty("type").GetString());
        Assert.Equal("pong", (await client.RequestAsync("ping")).GetProperty("type").GetString());

        // When Redis comes up the node starts working by itself.
        await redis.RestartAsync();
        await Eventually(() => node.Server.GetStats().Engine.Healthy, "the node is healthy");
        await client.SubscribeAsync("system");
        await RetryPublishAsync(node, "system", 2);
        Assert.Equal(2, (await client.ReceiveEventAsync()).GetProperty("data").GetProperty("n").GetInt32());
    }
}
