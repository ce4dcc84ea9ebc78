using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text.Json;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Tests.Infrastructure;
using Xunit.Abstractions;

namespace MoltBeat.WebSocket.Tests.Server;

public sealed class ChaosTests(ITestOutputHelper output)
{
    private static readonly string[] Rooms = ["chaos:a", "chaos:b", "chaos:a:x", "chaos:b:y", "chaos", "all"];

    /// <summary>
    /// A client that reconnects by itself and recovers with <c>since</c>, written from protocol.md alone.
    /// It checks that, in every room it subscribed to, offsets arrive 1, 2, 3, … with no gap and no repeat.
    /// </summary>
    private sealed class ResilientClient(TestServer server, string[] rooms, bool batch)
    {
        private readonly Dictionary<string, (string Epoch, long Offset)> _positions = [];
        private readonly HashSet<long> _seen = [];
        public readonly ConcurrentQueue<string> Errors = new();
        public volatile RawClient? Current;
        public int Reconnects;

        public string[] Rooms => rooms;

        public long OffsetIn(string room) => _positions.TryGetValue(room, out var p) ? p.Offset : 0;

        public async Task RunAsync(Func<bool> done, CancellationToken stop)
        {
            while (!stop.IsCancellationRequested && !done())
            {
                try
                {
                    await using var client = await server.ConnectAsync(batch ? "batch=1" : "batch=0");
                    Current = client;
                    foreach (var room in rooms)
                    {
                        var since = _positions.TryGetValue(room, out var p) ? $"{{\"epoch\":\"{p.Epoch}\",\"offset\":{p.Offset}}}" : null;
                        await client.SendAsync($"{{\"type\":\"subscribe\",\"room\":\"{room}\",\"id\":{client.NextId()}{(since is null ? "" : ",\"since\":" + since)}}}");
                    }
                    while (!stop.IsCancellationRequested && !done())
                        Handle(await client.ReceiveAsync(TimeSpan.FromSeconds(5)));
                }
                catch (Exception ex) when (ex is WebSocketException or InvalidOperationException or TimeoutException or OperationCanceledException)
                {
                    // Dropped (by the chaos driver or the server) or idle: reconnect and recover.
                    Reconnects++;
                }
            }
        }

        private void Handle(JsonElement message)
        {
            switch (message.GetProperty("type").GetString())
            {
                case "subscribed":
                    var room = message.GetProperty("room").GetString()!;
                    if (message.TryGetProperty("recovered", out var recovered) && !recovered.GetBoolean())
                        Errors.Enqueue($"recovery of {room} failed");
                    if (!_positions.ContainsKey(room))
                        _positions[room] = (message.GetProperty("epoch").GetString()!, message.GetProperty("offset").GetInt64());
                    break;
                case "event":
                    var offsets = message.GetProperty("offsets");
                    if (!_seen.Add(offsets.GetProperty("all").GetInt64()))
                        Errors.Enqueue($"duplicate event {offsets.GetProperty("all")}");
                    foreach (var r in rooms)
                    {
                        if (!offsets.TryGetProperty(r, out var offset) || !_positions.TryGetValue(r, out var position))
                            continue;
                        if (offset.GetInt64() != position.Offset + 1)
                            Errors.Enqueue($"{r}: expected offset {position.Offset + 1}, got {offset.GetInt64()}");
                        _positions[r] = (position.Epoch, offset.GetInt64());
                    }
                    break;
                case "error":
                    Errors.Enqueue("error " + message);
                    break;
            }
        }
    }

    [Fact]
    public async Task Clients_dropped_at_random_get_every_event_of_their_rooms_exactly_once_in_order()
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            o.CloseTimeout = TimeSpan.FromSeconds(1);
            // Long enough that a client dropped on this loaded 2-core machine is still within history.
            o.History.MaxEventsPerRoom = 10_000;
        });
        var random = new Random(1234);
        var clients = Enumerable.Range(0, 50).Select(i =>
        {
            // Parents first: a replay of a parent covers its children's missed events, in order.
            var rooms = Rooms.OrderBy(_ => random.Next()).Take(1 + random.Next(2))
                .OrderBy(r => r == "all" ? 0 : r.Count(c => c == ':') + 1).ToArray();
            return new ResilientClient(server, rooms, batch: i % 2 == 0);
        }).ToList();
        const int total = 3000;
        var finalOffsets = new ConcurrentDictionary<string, long>();
        var published = false;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        bool AllCaughtUp() => published && clients.All(c => c.Rooms.All(r => c.OffsetIn(r) >= finalOffsets.GetValueOrDefault(r)));
        var running = clients.Select(c => Task.Run(() => c.RunAsync(AllCaughtUp, stop.Token))).ToArray();
        await Task.Delay(500);

        var publisher = Task.Run(async () =>
        {
            string[] targets = ["chaos:a", "chaos:b", "chaos:a:x", "chaos:b:y"];
            for (var n = 1; n <= total; n++)
            {
                var result = await server.Server.PublishAsync([targets[n % targets.Length]], "tick", new { n });
                for (var i = 0; i < result.DeliveryRooms!.Length; i++)
                    finalOffsets[result.DeliveryRooms[i]] = result.Offsets![i];
                if (n % 30 == 0)
                    await Task.Delay(10);
            }
            published = true;
        });
        var drops = 0;
        var chaos = Task.Run(async () =>
        {
            var r = new Random(99);
            while (!publisher.IsCompleted && drops < 200)
            {
                await Task.Delay(15);
                var victim = clients[r.Next(clients.Count)].Current;
                if (victim?.ClientId is null)
                    continue;
                drops++;
                switch (r.Next(3))
                {
                    case 0:
                        victim.Socket.Abort(); // client side, no close frame
                        break;
                    case 1:
                        server.Server.DisconnectClient(victim.ClientId, CloseCodes.GoingAway);
                        break;
                    default:
                        server.Server.DisconnectClient(victim.ClientId, CloseCodes.SlowConsumer);
                        break;
                }
            }
        });
        await Task.WhenAll(publisher, chaos);
        await Task.WhenAll(running);

        var reconnects = clients.Sum(c => c.Reconnects);
        output.WriteLine($"{drops} drops, {reconnects} reconnects, recovery stats {server.Server.GetStats().Recovery}");
        Assert.True(drops > 20, "the chaos driver should have dropped connections");
        foreach (var c in clients.Where(c => !c.Errors.IsEmpty).Take(5))
            output.WriteLine($"[{string.Join(",", c.Rooms)}] {c.Errors.Count} errors: {string.Join(" | ", c.Errors.Where(e => !e.Contains("expected", StringComparison.Ordinal)).Take(3))} first: {c.Errors.First()}");
        Assert.Empty(clients.SelectMany(c => c.Errors));
        Assert.True(AllCaughtUp(), "every client caught up with every room");
        Assert.True(server.Server.GetStats().Recovery.Recovered > 0);
    }
}
