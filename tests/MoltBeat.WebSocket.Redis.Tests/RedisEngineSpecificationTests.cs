using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Redis.Tests.Infrastructure;
using MoltBeat.WebSocket.Tests.Specifications;

namespace MoltBeat.WebSocket.Redis.Tests;

/// <summary>The engine specification, run by the Redis engine on a real <c>redis-server</c> (each test with keys of its own).</summary>
public sealed class RedisEngineSpecificationTests : EngineSpecification
{
    protected override async Task<IMoltBeatEngine> CreateEngineAsync(HistoryOptions history)
    {
        var redis = await RedisServer.Shared;
        return new RedisEngine(new RedisEngineOptions { Configuration = redis.Configuration, KeyPrefix = $"spec-{Guid.NewGuid():N}", History = history });
    }
}
