using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MoltBeat.WebSocket.Redis;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.Bench.Peers;

/// <summary>
/// MoltBeat itself: <c>moltbeat</c> is the standalone server (raw Kestrel connections), and
/// <c>moltbeat-hosted</c> the same server inside an ASP.NET Core app (MapMoltBeatWebSocket), and
/// <c>moltbeat-redis</c> the standalone server on the Redis engine (history that outlives a restart).
/// </summary>
internal static class MoltBeatPeer
{
    private static MoltBeatWSServer? _hosted;

    // The library's defaults, except for the number of connections: a burst of 200 events (50 KB) fits the
    // default queue bound (1 MB, 10 000 messages), and the slow-consumer scenario shows that bound at work.
    private static void Limits(WSServerOptions o) => o.MaxConnections = 100_000;

    public static async Task<(Action<string> Publish, Func<Task> Stop)> StartAsync(int port, string? redis = null)
    {
        var options = new WSServerOptions { Port = port, Host = "127.0.0.1" };
        Limits(options);
        // Warnings and errors go to standard error (standard output is the harness's command channel).
        var logs = LoggerFactory.Create(b => b.AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace).SetMinimumLevel(LogLevel.Warning));
        var engine = redis is null ? null : new RedisEngine(new RedisEngineOptions { Configuration = redis, KeyPrefix = "bench" }, logs);
        var server = new MoltBeatWSServer(options, engine, logs);
        await server.StartAsync();
        return (json => server.Broadcast(BenchPayload.Room, "bench", JsonDocument.Parse(json).RootElement), StopAsync);

        async Task StopAsync()
        {
            await server.DisposeAsync();
            if (engine is not null)
                await engine.DisposeAsync();
            logs.Dispose();
        }
    }

    public static Action<string> ConfigureHosted(WebApplicationBuilder builder)
    {
        builder.Services.AddMoltBeatWebSocket(Limits);
        return json => _hosted!.Broadcast(BenchPayload.Room, "bench", JsonDocument.Parse(json).RootElement);
    }

    public static object MapHosted(WebApplication app)
    {
        _hosted = app.Services.GetRequiredService<MoltBeatWSServer>();
        return app.MapMoltBeatWebSocket("/ws");
    }
}
