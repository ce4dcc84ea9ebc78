using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.Bench;

/// <summary>A server under test: where clients connect, how a subscriber joins, and how one event is published to everyone.</summary>
internal interface IPeer : IAsyncDisposable
{
    string Name { get; }
    Uri WsUri { get; }
    /// <summary>The text a client sends to join the benchmark room.</summary>
    string SubscribeMessage { get; }
    void Publish(string payloadJson);
}

/// <summary>MoltBeat itself, standalone on a free port.</summary>
internal sealed class MoltBeatPeer(MoltBeatWSServer server, bool batch) : IPeer
{
    public const string Room = "bench:room";

    public string Name => batch ? "moltbeat (batch=1)" : "moltbeat";

    public Uri WsUri => new($"ws://{server.Urls[0].Authority}/ws{(batch ? "?batch=1" : "")}");

    public string SubscribeMessage => $"{{\"type\":\"subscribe\",\"room\":\"{Room}\"}}";

    public static async Task<IPeer> StartAsync(bool batch)
    {
        var server = new MoltBeatWSServer(new WSServerOptions { Port = 0, MaxConnections = 100_000, MaxQueuedMessages = 100_000, MaxQueuedBytes = 64 << 20 });
        await server.StartAsync();
        return new MoltBeatPeer(server, batch);
    }

    public void Publish(string payloadJson) => server.Broadcast(Room, "bench", System.Text.Json.JsonDocument.Parse(payloadJson).RootElement);

    public ValueTask DisposeAsync() => server.DisposeAsync();
}

/// <summary>
/// The naive ASP.NET Core way: UseWebSockets, a set of sockets, and SendAsync to each member per event
/// (serialized once, awaited per subscriber under a per-socket lock).
/// </summary>
internal sealed class NaiveKestrelPeer(WebApplication app, ConcurrentDictionary<System.Net.WebSockets.WebSocket, SemaphoreSlim> members) : IPeer
{
    public string Name => "naive Kestrel SendAsync";

    public Uri WsUri => new($"ws://{new Uri(app.Urls.First()).Authority}/ws");

    public string SubscribeMessage => "subscribe";

    public static async Task<IPeer> StartAsync()
    {
        var members = new ConcurrentDictionary<System.Net.WebSockets.WebSocket, SemaphoreSlim>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.UseWebSockets();
        app.Map("/ws", async (HttpContext ctx) =>
        {
            using var socket = await ctx.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[1024];
            while (true)
            {
                var r = await socket.ReceiveAsync(buffer, CancellationToken.None);
                if (r.MessageType == WebSocketMessageType.Close)
                    break;
                members.TryAdd(socket, new SemaphoreSlim(1, 1));
            }
            members.TryRemove(socket, out _);
        });
        await app.StartAsync();
        return new NaiveKestrelPeer(app, members);
    }

    public void Publish(string payloadJson)
    {
        var bytes = Encoding.UTF8.GetBytes($"{{\"type\":\"event\",\"room\":\"bench:room\",\"event\":\"bench\",\"data\":{payloadJson}}}");
        foreach (var (socket, gate) in members)
            _ = SendAsync(socket, gate, bytes);
    }

    private static async Task SendAsync(System.Net.WebSockets.WebSocket socket, SemaphoreSlim gate, byte[] bytes)
    {
        await gate.WaitAsync();
        try
        {
            await socket.SendAsync(bytes, WebSocketMessageType.Text, true, CancellationToken.None);
        }
        catch (WebSocketException)
        {
        }
        finally
        {
            gate.Release();
        }
    }

    public async ValueTask DisposeAsync() => await app.DisposeAsync();
}
