using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.Bench.Peers;

/// <summary>MoltBeat itself, hosted with AddMoltBeatWebSocket/MapMoltBeatWebSocket.</summary>
internal static class MoltBeatPeer
{
    private static MoltBeatWSServer? _server;

    public static Action<string> Configure(WebApplicationBuilder builder)
    {
        builder.Services.AddMoltBeatWebSocket(o =>
        {
            o.MaxConnections = 100_000;
            // A burst of 200 events must fit every subscriber's queue: the bench measures throughput, not 4009.
            o.MaxQueuedMessages = 100_000;
            o.MaxQueuedBytes = 16 << 20;
        });
        return json => _server!.Broadcast(BenchPayload.Room, "bench", JsonDocument.Parse(json).RootElement);
    }

    public static object Map(WebApplication app)
    {
        _server = app.Services.GetRequiredService<MoltBeatWSServer>();
        return app.MapMoltBeatWebSocket("/ws");
    }
}
