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
/// <c>moltbeat-redis</c> the standalone server on the Redis engine (history that outlives a restart), and
/// <c>moltbeat-redis-reuseport</c> that server on a port it shares with other nodes (<c>SO_REUSEPORT</c>).
/// </summary>
internal static class MoltBeatPeer
{
    private static MoltBeatWSServer? _hosted;

    /// <summary>The Redis engine's key prefix of every <c>moltbeat-redis</c> node: one deployment, and its channel <c>bench:events</c>.</summary>
    public const string RedisKeyPrefix = "bench";

    // The library's defaults, except for the number of connections: a burst of 200 events (50 KB) fits the
    // default queue bound (1 MB, 10 000 messages), and the slow-consumer scenario shows that bound at work.
    private static void Limits(WSServerOptions o) => o.MaxConnections = 100_000;

    public static async Task<(Publisher Publish, Func<Task> Stop, Func<Task<ConflationStats>> Stats)> StartAsync(int port, string? redis = null, bool reusePort = false)
    {
        var options = new WSServerOptions { Port = port, Host = "127.0.0.1", ReusePort = reusePort };
        Limits(options);
        // Warnings and errors go to standard error (standard output is the harness's command channel).
        var logs = LoggerFactory.Create(b => b.AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace).SetMinimumLevel(LogLevel.Warning));
        var engine = redis is null ? null : new RedisEngine(new RedisEngineOptions { Configuration = redis, KeyPrefix = RedisKeyPrefix }, logs);
        var server = new MoltBeatWSServer(options, engine, logs);
        await server.StartAsync();
        return (For(() => server), StopAsync, () => Task.FromResult(ConflationStats.Of(server.GetStats().Recovery)));

        async Task StopAsync()
        {
            await server.DisposeAsync();
            if (engine is not null)
                await engine.DisposeAsync();
            logs.Dispose();
        }
    }

    public static Publisher ConfigureHosted(WebApplicationBuilder builder)
    {
        builder.Services.AddMoltBeatWebSocket(Limits);
        return For(() => _hosted!);
    }

    // Broadcast is the fire-and-forget call, PublishAsync(EventToPublish) the awaitable one, each with the key.
    private static Publisher For(Func<MoltBeatWSServer> server) => new(
        (json, key) => server().Broadcast(Rooms, "bench", JsonDocument.Parse(json).RootElement, key),
        (json, key) => server().PublishAsync(new EventToPublish(Rooms, "bench", JsonDocument.Parse(json).RootElement) { Key = key }));

    private static readonly string[] Rooms = [BenchPayload.Room];

    /// <summary>
    /// <c>moltbeat-server</c>: the real server application (<c>MoltBeat.Server</c>, what a user runs) on
    /// <paramref name="port"/>, published to through its public <c>POST /api/publish</c> (the http mode only:
    /// in-process publishing is the <c>moltbeat</c> peer). Its logs go to standard error, since standard output
    /// is the harness's command channel; it stops the way an operator stops it, with SIGTERM.
    /// </summary>
    public static async Task<(Publisher Publish, Func<Task> Stop, Func<Task<ConflationStats>> Stats)> StartServerAppAsync(int port)
    {
        Environment.SetEnvironmentVariable("Logging__Console__LogToStandardErrorThreshold", "Trace");
        Environment.SetEnvironmentVariable("Logging__LogLevel__Default", "Warning");
        var c = System.Globalization.CultureInfo.InvariantCulture;
        var running = MoltBeat.Server.ServerApp.RunAsync(["--host", "127.0.0.1", "--port", port.ToString(c), "--max-connections", "100000"]);
        using var http = new HttpClient();
        for (var attempt = 0; !await HealthyAsync(http, port); attempt++)
        {
            if (running.IsCompleted)
                throw new InvalidOperationException($"the server application exited with {await running}");
            if (attempt == 300)
                throw new TimeoutException("the server application did not become healthy within 30 s");
            await Task.Delay(100);
        }
        var inProcess = new Publisher(
            (_, _) => throw new NotSupportedException("moltbeat-server is published to over HTTP only"),
            (_, _) => throw new NotSupportedException("moltbeat-server is published to over HTTP only"));
        return (inProcess, StopAsync, StatsAsync);

        // What an operator sees: GET /api/stats.
        async Task<ConflationStats> StatsAsync()
        {
            using var client = new HttpClient();
            using var stats = JsonDocument.Parse(await client.GetStringAsync(new Uri($"http://127.0.0.1:{port}/api/stats")));
            var recovery = stats.RootElement.GetProperty("recovery");
            return new(recovery.GetProperty("conflatedEvents").GetInt64(), recovery.GetProperty("slowConsumerDisconnects").GetInt64());
        }

        async Task StopAsync()
        {
            using var kill = System.Diagnostics.Process.Start("kill", ["-TERM", Environment.ProcessId.ToString(c)]);
            await running;
        }
    }

    private static async Task<bool> HealthyAsync(HttpClient http, int port)
    {
        try
        {
            return (await http.GetAsync(new Uri($"http://127.0.0.1:{port}/api/health"))).IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    public static object MapHosted(WebApplication app)
    {
        _hosted = app.Services.GetRequiredService<MoltBeatWSServer>();
        return app.MapMoltBeatWebSocket("/ws");
    }
}

/// <summary>A MoltBeat server's counts the conflation scenario reads (its <c>stats</c> command): events conflated away, 4009 closes.</summary>
internal sealed record ConflationStats(long ConflatedEvents, long SlowConsumerDisconnects)
{
    public static ConflationStats Of(WSRecoveryStats recovery) => new(recovery.ConflatedEvents, recovery.SlowConsumerDisconnects);

    /// <summary>The peer's answer line: <c>stats CONFLATED SLOW</c>.</summary>
    public string ToLine() => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"stats {ConflatedEvents} {SlowConsumerDisconnects}");

    /// <summary>Reads <see cref="ToLine"/>'s line back.</summary>
    public static ConflationStats Parse(string line) => line.Split(' ') is ["stats", var conflated, var slow]
        ? new(long.Parse(conflated, System.Globalization.CultureInfo.InvariantCulture), long.Parse(slow, System.Globalization.CultureInfo.InvariantCulture))
        : throw new FormatException($"stats answered '{line}'");
}
