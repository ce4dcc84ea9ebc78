using Microsoft.Extensions.Time.Testing;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.WebSocket.Tests.Infrastructure;

/// <summary>A real standalone MoltBeat server on a free loopback port, one per test.</summary>
public sealed class TestServer : IAsyncDisposable
{
    private TestServer(MoltBeatWSServer server) => Server = server;

    public MoltBeatWSServer Server { get; }

    public Uri HttpUri => Server.Urls[0];

    public Uri WsUri(string query = "") =>
        new($"ws://{HttpUri.Authority}{Server.Options.Path}{(query.Length > 0 ? "?" + query : "")}");

    public static async Task<TestServer> StartAsync(Action<WSServerOptions>? configure = null, TimeProvider? time = null, MoltBeat.WebSocket.Engine.IMoltBeatEngine? engine = null)
    {
        var options = new WSServerOptions { Port = 0, Host = "127.0.0.1", CloseTimeout = TimeSpan.FromSeconds(2) };
        configure?.Invoke(options);
        var server = new MoltBeatWSServer(options, engine, timeProvider: time);
        await server.StartAsync();
        return new TestServer(server);
    }

    /// <summary>Connects a raw client that has received <c>connected</c> already.</summary>
    public Task<RawClient> ConnectAsync(string query = "batch=0") => RawClient.ConnectReadyAsync(WsUri(query));

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>A fake clock that starts at a random instant, so code that reads the real clock fails tests.</summary>
public static class TestClock
{
    public static FakeTimeProvider Create() =>
        new(DateTimeOffset.UnixEpoch.AddDays(20_000 + Random.Shared.Next(0, 1000)).AddSeconds(Random.Shared.Next(0, 86_400)));
}
