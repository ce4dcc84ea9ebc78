using System.Diagnostics.Metrics;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Server;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Tests.Server;

public sealed class HistoryAndMetricsTests
{
    private sealed class NullSink : IEventSink
    {
        public int Delivered;

        public void Deliver(PublishedEvent published) => Delivered++;

        public int Connections => 0;

        public int Subscribers(string room) => 0;

        public (IReadOnlyList<UserPresence> Users, int Anonymous) Presence(string room) => ([], 0);

        public IReadOnlyCollection<string> TakeChangedRooms(bool all) => [];

        public void Control(EngineControl control)
        {
        }
    }

    private static PublishRequest Request(string room, int n) =>
        new([room], MoltBeat.WebSocket.Rooms.RoomName.ExpandForDelivery([room]), "tick", System.Text.Encoding.UTF8.GetBytes($"{{\"n\":{n}}}"), 0);

    [Fact]
    public async Task In_memory_history_obeys_its_count_bound_under_a_long_publish_run()
    {
        var engine = new InMemoryEngine(new HistoryOptions { MaxEventsPerRoom = 100 });
        var sink = new NullSink();
        await engine.StartAsync(sink, CancellationToken.None);
        for (var n = 1; n <= 20_000; n++)
            await engine.PublishAsync(Request($"room:{n % 7}", n), CancellationToken.None);
        var stats = engine.GetStats();
        Assert.Equal(20_000, sink.Delivered);
        // 7 rooms + "room" + "all", 100 events each at most.
        Assert.Equal(9 * 100, stats.HistoryEvents);
        Assert.InRange(stats.HistoryBytes, 1, 300 * 100 * 7);
        await engine.DisposeAsync();
    }

    [Fact]
    public async Task Subscribing_to_rooms_nobody_publishes_to_creates_no_room_state_and_recovers_once_published()
    {
        var engine = new InMemoryEngine();
        await engine.StartAsync(new NullSink(), CancellationToken.None);
        RecoveryResult? result = null;
        for (var i = 0; i < 1000; i++)
            await engine.SubscribeAsync($"made:up:{i}", ReplayRequest.None, r => result = r, CancellationToken.None);
        Assert.Equal(0, engine.StreamCount);
        Assert.Equal(0, result!.Position.Offset);

        // A position taken before the first publish still recovers what came after it.
        var before = result.Position;
        await engine.PublishAsync(Request("made:up:7", 1), CancellationToken.None);
        await engine.SubscribeAsync("made:up:7", new ReplayRequest(before), r => result = r, CancellationToken.None);
        Assert.True(result.Recovered);
        Assert.Single(result.Replay);
        Assert.Equal(before.Epoch, result.Position.Epoch);
        await engine.DisposeAsync();
    }

    [Fact]
    public async Task History_older_than_its_age_bound_is_dropped_and_recovery_then_fails()
    {
        var time = TestClock.Create();
        var engine = new InMemoryEngine(new HistoryOptions { MaxAge = TimeSpan.FromMinutes(5) }, time);
        await engine.StartAsync(new NullSink(), CancellationToken.None);
        await engine.PublishAsync(Request("aged", 1), CancellationToken.None);
        RecoveryResult? result = null;
        await engine.SubscribeAsync("aged", ReplayRequest.None, r => result = r, CancellationToken.None);
        var epoch = result!.Position.Epoch;

        time.Advance(TimeSpan.FromMinutes(4));
        await engine.SubscribeAsync("aged", new ReplayRequest(new StreamPosition(epoch, 0)), r => result = r, CancellationToken.None);
        Assert.True(result.Recovered);
        Assert.Single(result.Replay);

        time.Advance(TimeSpan.FromMinutes(2));
        await engine.SubscribeAsync("aged", new ReplayRequest(new StreamPosition(epoch, 0)), r => result = r, CancellationToken.None);
        Assert.False(result.Recovered);
        Assert.Equal(0, engine.GetStats().HistoryEvents);
        await engine.DisposeAsync();
    }

    [Fact]
    public async Task Metrics_count_connections_subscriptions_events_frames_and_errors()
    {
        var measurements = new System.Collections.Concurrent.ConcurrentDictionary<string, long>();
        var metrics = new MoltBeatMetrics();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == metrics.Connections.Meter)
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => measurements.AddOrUpdate(instrument.Name, value, (_, v) => v + value));
        listener.Start();

        var server = new MoltBeatWSServer(new WSServerOptions { Port = 0 }, metrics: metrics);
        await server.StartAsync();
        try
        {
            var uri = new Uri($"ws://{server.Urls[0].Authority}/ws");
            await using var client = await RawClient.ConnectAsync(uri);
            await client.ReceiveAsync();
            await client.SubscribeAsync("metrics:room");
            server.Broadcast("metrics:room", "x", 1);
            await client.ReceiveEventAsync();
            await client.RequestAsync("teleport");
            // A frame is counted once its write returns, which can be after the client has read it.
            for (var deadline = DateTime.UtcNow.AddSeconds(5); measurements.GetValueOrDefault("moltbeat.frames.sent") < 4 && DateTime.UtcNow < deadline;)
                await Task.Delay(10);

            Assert.Equal(1, measurements["moltbeat.connections"]);
            Assert.Equal(1, measurements["moltbeat.subscriptions"]);
            Assert.Equal(1, measurements["moltbeat.events.published"]);
            Assert.Equal(1, measurements["moltbeat.messages.sent"]);
            Assert.True(measurements["moltbeat.frames.sent"] >= 4);
            Assert.True(measurements["moltbeat.bytes.sent"] > 100);
            Assert.Equal(1, measurements["moltbeat.errors"]);
        }
        finally
        {
            await server.DisposeAsync();
            metrics.Dispose();
        }
    }

    [Fact]
    public async Task Delivery_latency_is_recorded_per_event_by_room_class_and_queue_depth_per_write()
    {
        var latencies = new System.Collections.Concurrent.ConcurrentQueue<(double Ms, string? Room)>();
        var depths = new System.Collections.Concurrent.ConcurrentQueue<int>();
        var metrics = new MoltBeatMetrics();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == metrics.Connections.Meter && instrument.Name is "moltbeat.delivery.latency" or "moltbeat.write.queue_depth")
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            string? room = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "room")
                    room = tag.Value as string;
            }
            latencies.Enqueue((value, room));
        });
        listener.SetMeasurementEventCallback<int>((_, value, _, _) => depths.Enqueue(value));
        listener.Start();

        var options = new WSServerOptions { Port = 0 };
        options.MetricRooms.Add("analytics");
        var server = new MoltBeatWSServer(options, metrics: metrics);
        await server.StartAsync();
        try
        {
            var uri = new Uri($"ws://{server.Urls[0].Authority}/ws");
            await using var client = await RawClient.ConnectReadyAsync(uri);
            await client.SubscribeAsync("all");
            server.Broadcast("analytics:agents", "x", 1);
            server.Broadcast("agent:7", "x", 2);
            await client.ReceiveEventAsync();
            await client.ReceiveEventAsync();

            await WaitUntil(() => latencies.Count >= 2);
            // One worker serves the one client: one latency per event, under the configured room or "other".
            Assert.Equal(["analytics", "other"], latencies.Select(l => l.Room).Order());
            Assert.All(latencies, l => Assert.InRange(l.Ms, 0, 10_000));
            Assert.NotEmpty(depths);
            Assert.All(depths, d => Assert.True(d >= 1));
        }
        finally
        {
            await server.DisposeAsync();
            metrics.Dispose();
        }
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition() && DateTime.UtcNow < deadline)
            await Task.Delay(10);
    }
}
