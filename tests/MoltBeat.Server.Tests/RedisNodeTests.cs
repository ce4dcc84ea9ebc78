using System.Net.Http.Json;
using System.Text.Json;
using MoltBeat.Server.Tests.Infrastructure;
using MoltBeat.WebSocket.Redis.Tests.Infrastructure;

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
}
