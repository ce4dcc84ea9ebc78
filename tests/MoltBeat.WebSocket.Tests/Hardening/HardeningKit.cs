using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using MoltBeat.WebSocket.Server;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Tests.Hardening;

/// <summary>
/// How many random cases the property tests run. The defaults keep the Hardening set fast; a longer fuzz
/// sets <c>CsCheck_Iter</c> (cases per property) or <c>CsCheck_Time</c> (seconds per property) in the
/// environment, and <c>CsCheck_Seed</c> replays a failure (see docs/security.md).
/// </summary>
public static class Fuzz
{
    /// <summary>The iteration count to pass to CsCheck: <paramref name="fallback"/>, or -1 (CsCheck's own env-driven default) when set.</summary>
    public static long Iter(long fallback) =>
        Environment.GetEnvironmentVariable("CsCheck_Iter") is { Length: > 0 } || Environment.GetEnvironmentVariable("CsCheck_Time") is { Length: > 0 } ? -1 : fallback;

    /// <summary>Seconds to run when <c>CsCheck_Time</c> is set, else -1 (iterations decide).</summary>
    public static int Time => int.TryParse(Environment.GetEnvironmentVariable("CsCheck_Time"), out var t) ? t : -1;
}

/// <summary>One log entry a server wrote.</summary>
public sealed record LogEntry(string Category, LogLevel Level, int EventId, string Message, string? Exception);

/// <summary>A logger factory that keeps everything written at every level, to check what the server logs.</summary>
public sealed class CapturingLoggerFactory : ILoggerFactory
{
    public ConcurrentQueue<LogEntry> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void AddProvider(ILoggerProvider provider) { }

    public void Dispose() { }

    /// <summary>Error-level entries (a handler that threw, a crashed connection) that no test expects.</summary>
    public List<LogEntry> Errors() => [.. Entries.Where(e => e.Level >= LogLevel.Error)];

    private sealed class Logger(CapturingLoggerFactory owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            // Keep the structured values as well as the text: a secret must not be in either.
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(" ", pairs.Select(p => $"{p.Key}={p.Value}")) : "";
            owner.Entries.Enqueue(new LogEntry(category, logLevel, eventId.Id, formatter(state, exception) + " | " + values, exception?.ToString()));
        }
    }
}

/// <summary>
/// A real standalone server on a free loopback port, like <see cref="TestServer"/>, with its logs captured
/// and the checks a hardening test ends with: nothing logged at Error level, no connection left behind,
/// and a fresh client still served.
/// </summary>
public sealed class HardServer : IAsyncDisposable
{
    private HardServer(MoltBeatWSServer server, CapturingLoggerFactory logs)
    {
        Server = server;
        Logs = logs;
    }

    public MoltBeatWSServer Server { get; }

    public CapturingLoggerFactory Logs { get; }

    public Uri WsUri(string query = "") =>
        new($"ws://{Server.Urls[0].Authority}{Server.Options.Path}{(query.Length > 0 ? "?" + query : "")}");

    /// <summary>Connections the server holds, authenticated or not (0 when every client is gone).</summary>
    public int OpenConnections => Server.Hub.All.Count;

    public static async Task<HardServer> StartAsync(Action<WSServerOptions>? configure = null, TimeProvider? time = null)
    {
        var options = new WSServerOptions { Port = 0, Host = "127.0.0.1", CloseTimeout = TimeSpan.FromSeconds(2) };
        configure?.Invoke(options);
        var logs = new CapturingLoggerFactory();
        var server = new MoltBeatWSServer(options, loggerFactory: logs, timeProvider: time);
        await server.StartAsync();
        return new HardServer(server, logs);
    }

    /// <summary>Connects a raw client that has received <c>connected</c>.</summary>
    public Task<RawClient> ConnectAsync(string query = "batch=0") => RawClient.ConnectReadyAsync(WsUri(query));

    /// <summary>A new client connects, gets <c>connected</c> and a <c>pong</c>: the server still serves.</summary>
    public async Task AssertServesANewClientAsync()
    {
        await using var probe = await ConnectAsync();
        Assert.Equal("pong", (await probe.RequestAsync("ping")).GetProperty("type").GetString());
    }

    /// <summary>Waits until the server holds no connection (each one cleaned up), within <paramref name="timeout"/>.</summary>
    public async Task AssertNoConnectionsAsync(TimeSpan timeout)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (OpenConnections > 0 && waited.Elapsed < timeout)
            await Task.Delay(20);
        Assert.True(OpenConnections == 0, $"{OpenConnections} connections still open after {timeout}");
        Assert.Equal(0, Server.GetStats().TotalClients);
    }

    /// <summary>The server logged nothing at Error level (no handler threw, no connection crashed).</summary>
    public void AssertNoErrorsLogged()
    {
        var errors = Logs.Errors();
        Assert.True(errors.Count == 0, "Errors logged:\n" + string.Join("\n", errors.Take(5).Select(e => $"{e.Category} {e.EventId}: {e.Message}\n{e.Exception}")));
    }

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}
