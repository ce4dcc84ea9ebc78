using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MoltBeat.Server.Tests.Infrastructure;
using MoltBeat.WebSocket.Redis.Tests.Infrastructure;
using static MoltBeat.Server.Tests.Infrastructure.ApiRequests;

namespace MoltBeat.Server.Tests;

/// <summary>The server application as a node on a real <c>redis-server</c>.</summary>
public sealed class RedisNodeTests
{
    [Fact]
    public async Task A_fresh_redis_node_is_ready_before_its_first_client_or_publish()
    {
        await using var redis = await RedisServer.StartAsync();
        // StartAsync waits for GET /api/health to answer 200: with the engine started only by a first client or
        // publish, a fresh node stayed "unhealthy" (engine not connected) for ever, and a load balancer that waits
        // for readiness never sent it either.
        await using var node = await ServerProcess.StartAsync("--redis", redis.Configuration, "--redis-prefix", "ready" + Guid.NewGuid().ToString("N")[..8]);
        using var http = new HttpClient { BaseAddress = node.HttpUrl, Timeout = TimeSpan.FromSeconds(10) };
        var health = await http.GetFromJsonAsync<JsonElement>(new Uri("/api/health", UriKind.Relative));
        Assert.Equal("redis", health.GetProperty("engine").GetProperty("name").GetString());
        Assert.True(health.GetProperty("engine").GetProperty("healthy").GetBoolean());
        Assert.Equal(0, health.GetProperty("connections").GetInt32());
    }

    [Fact]
    public async Task Two_servers_on_one_port_with_reuse_port_share_the_connections_and_every_client_gets_every_event()
    {
        await using var redis = await RedisServer.StartAsync();
        var port = ServerProcess.FreePort();
        var url = $"http://127.0.0.1:{port}";
        var prefix = "shared" + Guid.NewGuid().ToString("N")[..8];
        string[] args = ["--urls", url, "--reuse-port", "--redis", redis.Configuration, "--redis-prefix", prefix];
        await using var first = ServerProcess.Launch(args, port: port);
        await using var second = ServerProcess.Launch(args, port: port);
        // Health over the shared port may be answered by either: each says itself when it listens.
        foreach (var server in new[] { first, second })
        {
            for (var deadline = DateTime.UtcNow + ServerProcess.StartTimeout; !server.Output.Contains("Application started", StringComparison.Ordinal); await Task.Delay(50))
                Assert.True(DateTime.UtcNow < deadline && !server.Exited.IsCompleted, "a server did not start:\n" + server.Output);
        }
        var clients = new List<WsClient>();
        try
        {
            for (var i = 0; i < 24; i++)
            {
                var client = await WsClient.ConnectAsync(first.WsUrl());
                await client.SubscribeAsync("metrics:shared-port");
                clients.Add(client);
            }
            // The cluster view (each node's heartbeat in Redis), asked of whichever server the kernel picks.
            using var http = new HttpClient { BaseAddress = first.HttpUrl, Timeout = TimeSpan.FromSeconds(10) };
            int[] counts = [];
            for (var deadline = DateTime.UtcNow.AddSeconds(10); DateTime.UtcNow < deadline && counts.Sum() != 24; await Task.Delay(100))
            {
                var operations = await http.GetFromJsonAsync<JsonElement>(new Uri("/api/operations", UriKind.Relative));
                counts = [.. operations.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("connections").GetInt32())];
            }
            Assert.Equal(2, counts.Length);
            Assert.Equal(24, counts.Sum());
            // Spread by a hash of each connection's addresses: all 24 on one server would be a 1 in 8 million chance.
            Assert.All(counts, c => Assert.InRange(c, 1, 23));

            var (status, _) = await http.CallAsync(Post("/api/publish", """{"room":"metrics:shared-port","event":"tick","data":{"n":7}}""", apiKey: null));
            Assert.Equal(HttpStatusCode.OK, status);
            foreach (var client in clients)
                Assert.Equal(7, (await client.ReceiveEventAsync("tick")).GetProperty("data").GetProperty("n").GetInt32());
        }
        finally
        {
            foreach (var client in clients)
                await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_publish_to_a_redis_out_of_memory_answers_503_and_the_next_one_once_it_has_room_continues_the_offsets()
    {
        await using var redis = await RedisServer.StartAsync("--maxmemory-policy", "noeviction");
        await using var node = await ServerProcess.StartAsync("--redis", redis.Configuration, "--redis-prefix", "full" + Guid.NewGuid().ToString("N")[..8], "--api-key", SecuredServer.ApiKey);
        using var http = new HttpClient { BaseAddress = node.HttpUrl, Timeout = TimeSpan.FromSeconds(10) };
        const string Publish = """{"room":"metrics:full","event":"tick","data":1}""";
        var (first, published) = await http.CallAsync(Post("/api/publish", Publish));
        Assert.Equal(HttpStatusCode.OK, first);
        Assert.Equal(1, published.GetProperty("offsets").GetProperty("metrics:full").GetInt64());

        var used = long.Parse(await redis.InfoFieldAsync("memory", "used_memory"), CultureInfo.InvariantCulture);
        await redis.CommandAsync("CONFIG", "SET", "maxmemory", (used + 1_000_000).ToString(CultureInfo.InvariantCulture));
        await redis.CommandAsync("EVAL", "for i = 1, 40 do redis.call('SET', KEYS[1] .. i, string.rep('x', 65536)) end", "1", "filler:");
        // It answered 500, with StackExchange.Redis's exception, before the engine mapped Redis's OOM error.
        var (refused, error) = await http.CallAsync(Post("/api/publish", Publish));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused);
        Assert.Contains("out of memory", error.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await http.CallAsync(Get("/api/health"))).Status);

        await redis.CommandAsync("CONFIG", "SET", "maxmemory", "0");
        var (accepted, next) = await http.CallAsync(Post("/api/publish", Publish));
        Assert.Equal(HttpStatusCode.OK, accepted);
        Assert.Equal(2, next.GetProperty("offsets").GetProperty("metrics:full").GetInt64());
    }
}
