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
