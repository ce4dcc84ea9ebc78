using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MoltBeat.WebSocket.Hosting;

namespace MoltBeat.WebSocket.Server;

public sealed partial class MoltBeatWSServer
{
    private WebApplication? _standalone;

    /// <summary>The addresses the standalone server listens on, once started.</summary>
    public IReadOnlyList<Uri> Urls { get; private set; } = [];

    /// <summary>
    /// Starts a standalone server on <see cref="WSServerOptions.Host"/>:<see cref="WSServerOptions.Port"/>
    /// serving WebSocket clients on <see cref="WSServerOptions.Path"/> (the seed's <c>port</c> option).
    /// It runs on Kestrel's raw connections (no HTTP pipeline per connection), which is what keeps an
    /// idle connection small; to serve other HTTP routes too, host the server in your app with
    /// <c>MapMoltBeatWebSocket</c> instead.
    /// </summary>
    /// <exception cref="InvalidOperationException">It was started already.</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_standalone is not null)
            throw new InvalidOperationException("The server is started already.");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddSingleton<ILoggerFactory>(new WithoutRequestUrls(LoggerFactory));
        builder.Logging.ClearProviders();
        if (Options.ReusePort)
            builder.WebHost.UseSockets(o => o.UseReusePort());
        builder.WebHost.UseKestrel(kestrel =>
        {
            kestrel.Limits.MaxConcurrentConnections = null;
            void Raw(ListenOptions listen) => listen.Run(ServeRawConnectionAsync);
            if (Options.Host == "localhost")
                kestrel.ListenLocalhost(Options.Port, Raw);
            else
                kestrel.Listen(IPAddress.Parse(Options.Host), Options.Port, Raw);
        });
        var app = builder.Build();
        await _engineStarted.Value.ConfigureAwait(false);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        _standalone = app;
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        Urls = [.. addresses.Select(a => new Uri(a))];
        foreach (var url in Urls)
            Logger.Listening(new Uri(url, Options.Path).ToString().Replace("http", "ws", StringComparison.Ordinal));
    }

    /// <summary>One raw connection of the standalone server: the handshake by hand, then the WebSocket on the socket's pipes.</summary>
    // Usually the whole request head has arrived by the time Kestrel hands the connection over: then the
    // connection's run is returned as it is, and no state machine of this method is kept for its whole life.
    private Task ServeRawConnectionAsync(ConnectionContext connection) =>
        RawHandshake.TryReadHead(connection.Transport.Input, out var head) ? ServeHandshakeAsync(connection, head) : ReadHeadThenServeAsync(connection);

    private async Task ReadHeadThenServeAsync(ConnectionContext connection)
    {
        var transport = connection.Transport;
        RawHandshake.Head? head;
        using (var timeout = new CancellationTokenSource(Options.HandshakeTimeout))
        {
            try
            {
                head = await RawHandshake.ReadHeadAsync(transport.Input, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                head = null; // a peer that trickles its headers (slowloris) is cut off
            }
        }
        await ServeHandshakeAsync(connection, head).ConfigureAwait(false);
    }

    /// <summary>
    /// A connection of an endpoint that serves HTTP too (see <c>UseMoltBeatWebSocket</c>): a WebSocket upgrade
    /// to <see cref="WSServerOptions.Path"/> is served raw, as by the standalone server; anything else goes on
    /// to <paramref name="next"/>, Kestrel's HTTP, with nothing read.
    /// </summary>
    internal Task ServeOrPassAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        // As in ServeRawConnectionAsync: without waiting when the head is all there.
        if (RawHandshake.TryReadUpgradeHead(connection.Transport.Input, Options.Path, out var head))
            return head is null ? next(connection) : ServeHandshakeAsync(connection, head);
        return ReadUpgradeHeadThenServeOrPassAsync(connection, next);
    }

    private async Task ReadUpgradeHeadThenServeOrPassAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        RawHandshake.Head? head;
        using (var timeout = new CancellationTokenSource(Options.HandshakeTimeout))
            head = await RawHandshake.ReadUpgradeHeadAsync(connection.Transport.Input, Options.Path, timeout.Token).ConfigureAwait(false);
        if (head is null)
            await next(connection).ConfigureAwait(false);
        else
            await ServeHandshakeAsync(connection, head).ConfigureAwait(false);
    }

    // Not an async method: the connection's run is returned as it is, since every idle connection would keep
    // this method's state machine too. Only a 101 that the socket does not take at once is awaited here.
    private Task ServeHandshakeAsync(ConnectionContext connection, RawHandshake.Head? head)
    {
        var transport = connection.Transport;
        var remote = (connection.RemoteEndPoint as IPEndPoint)?.Address.ToString();
        if (head is null)
            return RefuseRawAsync(transport.Output, remote, StatusCodes.Status400BadRequest, "Bad Request", "Malformed or incomplete HTTP request.");
        if (!string.Equals(head.Path, Options.Path, StringComparison.Ordinal))
            return RefuseRawAsync(transport.Output, remote, StatusCodes.Status404NotFound, "Not Found", $"WebSocket clients connect to {Options.Path}.");
        var handshake = head.ToHandshake(remote);
        if (Refusal(handshake) is { } refused)
            return RefuseRawAsync(transport.Output, remote, refused.Status, ReasonPhrase(refused.Status), refused.Reason);
        if (!TryReserveConnection())
            return RefuseRawAsync(transport.Output, remote, StatusCodes.Status503ServiceUnavailable, ReasonPhrase(503), "Too many connections.");
        var deflate = NegotiatesDeflate(handshake);
        DuplexPipeStream stream;
        Task? sending = null;
        try
        {
            // Writes go to the socket itself when Kestrel's transport has one (see DuplexPipeStream), the 101 first.
            // Never under TLS: the socket carries the encrypted stream.
            var socket = connection.Features.Get<ITlsConnectionFeature>() is null ? connection.Features.Get<IConnectionSocketFeature>()?.Socket : null;
            stream = new DuplexPipeStream(transport, socket);
            List<(string, string)> headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", WebSocketHandshake.AcceptKey(handshake.Key!))];
            if (deflate)
                headers.Add(("Sec-WebSocket-Extensions", Compression.DeflateNegotiation.Response));
            var written = stream.WriteAsync(RawHandshake.Response(101, "Switching Protocols", body: null, headers));
            if (written.IsCompleted)
                written.GetAwaiter().GetResult();
            else
                sending = written.AsTask();
        }
        catch
        {
            ReleaseConnection();
            throw;
        }
        // The connection's run releases its place in the connection limit when it ends.
        return sending is null ? RunConnectionAsync(stream, connection, handshake, deflate) : RunAfterWriteAsync(sending, stream, connection, handshake, deflate);
    }

    private async Task RunAfterWriteAsync(Task written, DuplexPipeStream stream, ConnectionContext connection, HandshakeRequest handshake, bool deflate)
    {
        try
        {
            await written.ConfigureAwait(false);
        }
        catch
        {
            ReleaseConnection();
            throw;
        }
        await RunConnectionAsync(stream, connection, handshake, deflate).ConfigureAwait(false);
    }

    private async Task RefuseRawAsync(System.IO.Pipelines.PipeWriter output, string? remote, int status, string phrase, string reason)
    {
        Logger.HandshakeRefused(remote, status, reason);
        await RawHandshake.WriteResponseAsync(output, status, phrase, reason).ConfigureAwait(false);
    }

    private static string ReasonPhrase(int status) => status switch
    {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Error",
    };

    /// <summary>
    /// The user's logger factory minus ASP.NET Core's request logs ("Request starting GET /ws?token=..."), whose
    /// URL carries the query string and so a client's token: tokens are never logged. Kestrel's own logger
    /// opens no scopes: its connection scope (the connection id, shown only with <c>IncludeScopes</c>) would
    /// otherwise be kept for every connection's life, with the execution context it sets (about 150 bytes each).
    /// </summary>
    private sealed class WithoutRequestUrls(ILoggerFactory inner) : ILoggerFactory
    {
        public ILogger CreateLogger(string categoryName) => categoryName switch
        {
            _ when categoryName.StartsWith("Microsoft.AspNetCore.Hosting.Diagnostics", StringComparison.Ordinal) => Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance,
            "Microsoft.AspNetCore.Server.Kestrel" => new WithoutScopes(inner.CreateLogger(categoryName)),
            _ => inner.CreateLogger(categoryName),
        };

        public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

        // The user's factory is the user's to dispose.
        public void Dispose() { }
    }

    private sealed class WithoutScopes(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            inner.Log(logLevel, eventId, state, exception, formatter);
    }

    private async Task StopStandaloneAsync()
    {
        if (Interlocked.Exchange(ref _standalone, null) is { } app)
        {
            await app.StopAsync().ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }
}
