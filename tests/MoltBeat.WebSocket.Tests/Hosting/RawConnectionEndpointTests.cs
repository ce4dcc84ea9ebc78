using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using MoltBeat.WebSocket.Server;
using MoltBeat.WebSocket.Tests.Hardening;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Tests.Hosting;

/// <summary>
/// An ASP.NET Core endpoint with <c>UseMoltBeatWebSocket</c>: WebSocket upgrades to the server's path are
/// served on Kestrel's raw connection (the HTTP pipeline never sees them), everything else is HTTP as before.
/// </summary>
public sealed class RawConnectionEndpointTests
{
    /// <summary>An app on a free loopback port whose HTTP pipeline counts the requests to /ws it sees.</summary>
    private sealed class App : IAsyncDisposable
    {
        private int _wsRequestsSeenByHttp;

        private App(WebApplication app, Uri http)
        {
            Web = app;
            Http = http;
        }

        public WebApplication Web { get; }

        public Uri Http { get; }

        public Uri Ws => new($"ws://{Http.Authority}/ws");

        public int WsRequestsSeenByHttp => Volatile.Read(ref _wsRequestsSeenByHttp);

        public MoltBeatWSServer Server => Web.Services.GetRequiredService<MoltBeatWSServer>();

        public static async Task<App> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0, listen => listen.UseMoltBeatWebSocket()));
            builder.Services.AddMoltBeatWebSocket(o => o.HeartbeatInterval = TimeSpan.FromSeconds(30));
            var web = builder.Build();
            App? self = null;
            web.Use(async (context, next) =>
            {
                if (context.Request.Path == "/ws")
                    Interlocked.Increment(ref self!._wsRequestsSeenByHttp);
                await next(context);
            });
            web.MapGet("/api/health", () => Results.Ok(new { status = "ok" }));
            web.MapGet("/api/nothing", () => Results.NoContent());
            web.MapMoltBeatWebSocket("/ws");
            await web.StartAsync();
            self = new App(web, new Uri(web.Urls.First()));
            return self;
        }

        public async ValueTask DisposeAsync()
        {
            await Web.StopAsync();
            await Web.DisposeAsync();
        }
    }

    [Fact]
    public async Task Websocket_clients_are_served_raw_and_http_routes_still_answer_on_the_same_port()
    {
        await using var app = await App.StartAsync();
        var room = $"raw:{Guid.NewGuid():N}";
        await using var client = await RawClient.ConnectReadyAsync(app.Ws);
        await client.SubscribeAsync(room);
        using var http = new HttpClient { BaseAddress = app.Http };
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync(new Uri("/api/health", UriKind.Relative))).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await http.GetAsync(new Uri("/nowhere", UriKind.Relative))).StatusCode);

        app.Server.Broadcast(room, "raw:event", new { n = 1 });

        var evt = await client.ReceiveEventAsync();
        Assert.Equal("raw:event", evt.GetProperty("event").GetString());
        Assert.Equal(0, app.WsRequestsSeenByHttp);
    }

    [Fact]
    public async Task An_upgrade_after_another_request_on_a_kept_alive_connection_is_served_by_the_http_route()
    {
        await using var app = await App.StartAsync();
        using var socket = await RawFrameSocket.OpenTcpAsync(app.Ws);
        await socket.WriteAsync(Encoding.ASCII.GetBytes($"GET /api/nothing HTTP/1.1\r\nHost: {app.Http.Authority}\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 204", await socket.ReadHttpHeadersAsync(RawClient.DefaultTimeout));

        await socket.WriteAsync(Encoding.ASCII.GetBytes(RawFrameSocket.HandshakeRequest(app.Ws)));

        Assert.StartsWith("HTTP/1.1 101", await socket.ReadHttpHeadersAsync(RawClient.DefaultTimeout));
        var reaction = await socket.ReadAsync(RawClient.DefaultTimeout, text => text.Contains("\"connected\"", StringComparison.Ordinal));
        Assert.Contains(reaction.Texts, t => t.Contains("\"connected\"", StringComparison.Ordinal));
        Assert.Equal(1, app.WsRequestsSeenByHttp);
    }

    [Fact]
    public async Task A_connection_that_does_not_start_with_a_websocket_upgrade_is_left_to_http()
    {
        await using var app = await App.StartAsync();
        using var socket = await RawFrameSocket.OpenTcpAsync(app.Ws);
        // Not HTTP at all (a TLS client hello starts with 0x16): Kestrel's HTTP answers it, not the WebSocket server.
        await socket.WriteAsync(new byte[] { 0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00, (byte)'\r', (byte)'\n', (byte)'\r', (byte)'\n' });

        var answer = await socket.ReadHttpHeadersAsync(RawClient.DefaultTimeout);

        Assert.StartsWith("HTTP/1.1 400", answer);
        Assert.Equal(0, app.Server.GetStats().TotalClients + app.Server.GetStats().PendingClients);
    }

    [Fact]
    public async Task A_refused_raw_handshake_gets_the_same_answer_as_the_standalone_server()
    {
        await using var app = await App.StartAsync();
        using var socket = await RawFrameSocket.OpenTcpAsync(app.Ws);
        await socket.WriteAsync(Encoding.ASCII.GetBytes(
            $"GET /ws HTTP/1.1\r\nHost: {app.Http.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Version: 8\r\n\r\n"));

        var answer = await socket.ReadHttpHeadersAsync(RawClient.DefaultTimeout);

        Assert.StartsWith("HTTP/1.1 400", answer);
        Assert.Equal(0, app.WsRequestsSeenByHttp);
    }
}
