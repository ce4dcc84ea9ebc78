using System.Globalization;
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

    /// <summary>The script calls (EVAL and EVALSHA: the engine's scripts) <paramref name="redis"/> has run since it started.</summary>
    public static async Task<long> ScriptCallsAsync(RedisServer redis)
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Configuration + ",allowAdmin=true");
        var server = connection.GetServer(connection.GetEndPoints()[0]);
        var calls = 0L;
        foreach (var group in await server.InfoAsync("commandstats"))
        {
            foreach (var (key, value) in group)
            {
                // "cmdstat_evalsha" => "calls=12,usec=...".
                if (key is "cmdstat_eval" or "cmdstat_evalsha")
                    calls += long.Parse(value.Split(',')[0]["calls=".Length..], CultureInfo.InvariantCulture);
            }
        }
        return calls;
    }
}
