using StackExchange.Redis;

namespace MoltBeat.WebSocket.Redis.Tests.Infrastructure;

/// <summary>Looks at what a cluster keeps in Redis.</summary>
public static class RedisProbe
{
    public static async Task<long> StreamLengthAsync(Cluster cluster, string room)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.Configuration);
        return await redis.GetDatabase().StreamLengthAsync(new RedisKeys(cluster.Prefix).History(room));
    }
}
