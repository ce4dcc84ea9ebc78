using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MoltBeat.WebSocket.Tests.Client;

/// <summary>
/// A WebSocket server on loopback that plays a script instead of the real server, for what the real one never
/// does on purpose: duplicate events, odd batches, unanswered pings.
/// </summary>
public sealed class ScriptedServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ScriptedServer(WebApplication app, Uri wsUri)
    {
        _app = app;
        WsUri = wsUri;
    }

    public Uri WsUri { get; }

    public static async Task<ScriptedServer> StartAsync(Func<ScriptedSession, Task> script)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.UseWebSockets();
        app.Map("/ws", async context =>
        {
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            try
            {
                await script(new ScriptedSession(socket, context.Request.QueryString.Value ?? ""));
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
            }
        });
        await app.StartAsync();
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return new ScriptedServer(app, new Uri($"ws://{address.Authority}/ws"));
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(cts.Token);
        await _app.DisposeAsync();
    }
}

public sealed class ScriptedSession(System.Net.WebSockets.WebSocket socket, string query)
{
    public string Query { get; } = query;

    /// <summary>Sends the messages in one frame, separated by '\n' (the batching of protocol.md).</summary>
    public async Task SendAsync(params string[] messages)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.SendAsync(Encoding.UTF8.GetBytes(string.Join('\n', messages)), WebSocketMessageType.Text, true, cts.Token);
    }

    /// <summary>Closes the connection with <paramref name="code"/> and waits (bounded) for the client's reply.</summary>
    public async Task CloseAsync(int code, string reason)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await socket.CloseAsync((WebSocketCloseStatus)code, reason, cts.Token);
    }

    /// <summary>The next client message, or null when the client closed.</summary>
    public async Task<JsonElement?> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        var buffer = new byte[16 * 1024];
        var result = await socket.ReceiveAsync(buffer, cts.Token);
        if (result.MessageType == WebSocketMessageType.Close)
            return null;
        return JsonDocument.Parse(buffer.AsMemory(0, result.Count)).RootElement.Clone();
    }

    public static string Connected(string clientId = "c_scripted") =>
        $"{{\"type\":\"connected\",\"clientId\":\"{clientId}\",\"heartbeatInterval\":30000,\"protocol\":1}}";

    public static string Event(string room, int n, long id) =>
        $"{{\"type\":\"event\",\"room\":\"{room}\",\"event\":\"tick\",\"data\":{{\"n\":{n}}},\"ts\":1764170000000,\"offsets\":{{\"{room}\":{n},\"all\":{id}}}}}";
}
