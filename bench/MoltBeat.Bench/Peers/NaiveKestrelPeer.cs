using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace MoltBeat.Bench.Peers;

/// <summary>
/// The naive ASP.NET Core way: UseWebSockets, a set of sockets, and per event a SendAsync to each
/// member (serialized once; one send at a time per socket behind a semaphore).
/// </summary>
internal static class NaiveKestrelPeer
{
    private static readonly ConcurrentDictionary<System.Net.WebSockets.WebSocket, SemaphoreSlim> Members = new();

    public static Publisher Configure(WebApplicationBuilder builder) => new(
        (json, key) =>
        {
            var bytes = Frame(json);
            foreach (var (socket, gate) in Members)
                _ = SendAsync(socket, gate, bytes);
        },
        // Awaited: the event's sends to every member, all started at once, then awaited together.
        (json, key) =>
        {
            var bytes = Frame(json);
            return Task.WhenAll(Members.Select(m => SendAsync(m.Key, m.Value, bytes)));
        });

    private static byte[] Frame(string json) =>
        Encoding.UTF8.GetBytes($"{{\"type\":\"event\",\"room\":\"{BenchPayload.Room}\",\"event\":\"bench\",\"data\":{json}}}");

    public static object Map(WebApplication app)
    {
        app.UseWebSockets();
        return app.Map("/ws", async (HttpContext ctx) =>
        {
            using var socket = await ctx.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[1024];
            try
            {
                while (true)
                {
                    var r = await socket.ReceiveAsync(buffer, CancellationToken.None);
                    if (r.MessageType == WebSocketMessageType.Close)
                        break;
                    Members.TryAdd(socket, new SemaphoreSlim(1, 1)); // any message subscribes
                }
            }
            catch (WebSocketException)
            {
            }
            Members.TryRemove(socket, out _);
        });
    }

    private static async Task SendAsync(System.Net.WebSockets.WebSocket socket, SemaphoreSlim gate, byte[] bytes)
    {
        await gate.WaitAsync();
        try
        {
            await socket.SendAsync(bytes, WebSocketMessageType.Text, true, CancellationToken.None);
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException)
        {
        }
        finally
        {
            gate.Release();
        }
    }
}
