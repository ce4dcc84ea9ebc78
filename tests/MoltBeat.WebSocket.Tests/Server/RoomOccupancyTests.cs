using System.Collections.Concurrent;
using System.Diagnostics;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Tests.Server;

/// <summary>Rooms occupied and vacated (protocol 1.1), and presence, on one node over real sockets.</summary>
public sealed class RoomOccupancyTests
{
    private static string Room() => $"occ:{Guid.NewGuid():N}";

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var waited = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(10), "never: " + what);
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task A_room_is_occupied_once_by_its_first_subscriber_and_vacated_once_after_the_last_left_for_the_debounce()
    {
        await using var server = await TestServer.StartAsync(o => o.RoomVacatedAfter = TimeSpan.FromMilliseconds(800));
        var events = new ConcurrentQueue<(string Kind, string Room)>();
        server.Server.RoomOccupied += (_, e) => events.Enqueue(("occupied", e.Room));
        server.Server.RoomVacated += (_, e) => events.Enqueue(("vacated", e.Room));
        var room = Room();

        await using (var first = await server.ConnectAsync())
        {
            await first.SubscribeAsync(room);
            await using var second = await server.ConnectAsync();
            await second.SubscribeAsync(room);
            await WaitUntilAsync(() => events.Contains(("occupied", room)), "occupied");
        }
        // A dashboard that comes back within the debounce: neither vacated nor occupied again.
        await Task.Delay(300);
        await using (var back = await server.ConnectAsync())
        {
            await back.SubscribeAsync(room);
            await Task.Delay(1500);
        }
        await WaitUntilAsync(() => events.Contains(("vacated", room)), "vacated");
        await Task.Delay(1200);

        Assert.Equal([("occupied", room), ("vacated", room)], events.Where(e => e.Room == room));
    }

    [Fact]
    public async Task Presence_lists_each_user_with_its_connections_and_counts_anonymous_ones()
    {
        await using var server = await TestServer.StartAsync(o => o.AuthenticateClient = (token, _) =>
            ValueTask.FromResult<MoltBeat.WebSocket.Auth.WSUser?>(new MoltBeat.WebSocket.Auth.WSUser(token)));
        var room = Room();
        var clients = new List<RawClient>();
        foreach (var user in new[] { "ana", "ana", "bo" })
        {
            var client = await RawClient.ConnectReadyAsync(server.WsUri($"batch=0&token={user}"));
            await client.SubscribeAsync(room);
            clients.Add(client);
        }

        var presence = await server.Server.GetPresenceAsync(room);

        Assert.Equal(room, presence.Room);
        Assert.Equal(3, presence.Subscribers);
        Assert.Equal([new MoltBeat.WebSocket.Engine.UserPresence("ana", 2), new MoltBeat.WebSocket.Engine.UserPresence("bo", 1)], presence.Users);
        foreach (var client in clients)
            await client.DisposeAsync();
    }
}
