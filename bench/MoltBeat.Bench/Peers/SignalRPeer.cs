using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection;

namespace MoltBeat.Bench.Peers;

/// <summary>ASP.NET Core SignalR: a hub with groups, <c>Clients.Group(room).SendAsync</c> per event, JSON hub protocol.</summary>
internal static class SignalRPeer
{
    private static IHubContext<BenchHub>? _hub;

    public static Publisher Configure(WebApplicationBuilder builder)
    {
        builder.Services.AddSignalR();
        return new Publisher(
            (json, _) => _hub!.Clients.Group(BenchPayload.Room).SendAsync("event", JsonDocument.Parse(json).RootElement),
            (json, _) => _hub!.Clients.Group(BenchPayload.Room).SendAsync("event", JsonDocument.Parse(json).RootElement));
    }

    public static object Map(WebApplication app)
    {
        _hub = app.Services.GetRequiredService<IHubContext<BenchHub>>();
        return app.MapHub<BenchHub>("/ws");
    }

    /// <summary>Clients call <c>Join(room)</c>.</summary>
    public sealed class BenchHub : Hub
    {
        public Task Join(string room) => Groups.AddToGroupAsync(Context.ConnectionId, room);
    }
}
