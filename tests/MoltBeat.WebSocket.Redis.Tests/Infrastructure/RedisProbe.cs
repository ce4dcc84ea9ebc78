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

    /// <summary>How long Redis still keeps a publish's idempotency key; null when it keeps none.</summary>
    public static async Task<TimeSpan?> IdempotencyKeyTimeToLiveAsync(Cluster cluster, string key)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.Configuration);
        return await redis.GetDatabase().KeyTimeToLiveAsync(new RedisKeys(cluster.Prefix).Idempotency(key));
    }

    /// <summary>Makes Redis forget a node's counts as if its heartbeats had stopped long enough for them to expire.</summary>
    public static async Task ExpireNodeCountsAsync(Cluster cluster, string nodeId)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.Configuration);
        var keys = new RedisKeys(cluster.Prefix);
        var db = redis.GetDatabase();
        await db.KeyDeleteAsync(keys.NodeRooms(nodeId));
        await db.SortedSetAddAsync(keys.Nodes, nodeId, 0);
    }
}
