using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Redis.Tests.Infrastructure;
using MoltBeat.WebSocket.Tests.Specifications;

namespace MoltBeat.WebSocket.Redis.Tests;

/// <summary>The engine specification, run by the Redis engine on a real <c>redis-server</c> (each test with keys of its own).</summary>
public sealed class RedisEngineSpecificationTests : EngineSpecification
{
    // Short, so that occupancy's debounce (at least three heartbeats) passes quickly.
    private static readonly TimeSpan Heartbeat = TimeSpan.FromMilliseconds(150);

    /// <inheritdoc />
    protected override TimeSpan VacatedDebounce => Heartbeat * 3;

    protected override async Task<IMoltBeatEngine> CreateEngineAsync(HistoryOptions history)
    {
        var redis = await RedisServer.Shared;
        return new RedisEngine(new RedisEngineOptions { Configuration = redis.Configuration, KeyPrefix = $"spec-{Guid.NewGuid():N}", History = history, NodeHeartbeat = Heartbeat });
    }

    /// <summary>Redis keeps the time: a window of one second, configured, then waited out.</summary>
    protected override async Task<(IMoltBeatEngine Engine, Func<Task> PassIdempotencyWindow)> CreateEngineWithPassableIdempotencyWindowAsync()
    {
        var redis = await RedisServer.Shared;
        var window = TimeSpan.FromSeconds(1);
        var engine = new RedisEngine(new RedisEngineOptions { Configuration = redis.Configuration, KeyPrefix = $"spec-{Guid.NewGuid():N}", IdempotencyWindow = window });
        return (engine, () => Task.Delay(window + TimeSpan.FromMilliseconds(100)));
    }
}
