using System.Diagnostics;
using MoltBeat.Bench.Peers;

namespace MoltBeat.Bench.Harness;

/// <summary>One measured figure of one peer in one scenario.</summary>
internal sealed record Measurement(string Scenario, string Peer, string Metric, double Value, string Unit, bool HigherIsBetter, string Note = "");

/// <summary>The benchmark scenarios, each against one peer process with one set of load clients (the Redis-backed ones: Scenarios.Redis.cs).</summary>
internal static partial class Scenarios
{
    /// <summary>
    /// fanout-burst: <paramref name="subscribers"/> in one room, <paramref name="events"/> events published
    /// back to back in publish <paramref name="mode"/>; deliveries per second until every subscriber has every
    /// event, loss, and how the publisher and the wire saw it.
    /// </summary>
    public static async Task<List<Measurement>> FanoutBurstAsync(string peer, string mode, string root, int subscribers, int events)
    {
        var name = $"fanout-burst {subscribers / 1000.0:0.#}k [{mode}]";
        await using var served = await ServedPeer.StartAsync(peer, mode, root);
        var server = served.Server;
        await using var clients = await LoadClients.ConnectAsync(peer, server.WsUri, subscribers, recordLatency: true);
        await WarmUpAsync(served, clients);
        // A first, unmeasured burst: the hot paths of both processes are compiled (tiered JIT) before the clock starts.
        await UnmeasuredRoundAsync(served, clients, events / 4, 0);
        var cpuBefore = server.CpuTime();
        var clock = Stopwatch.StartNew();
        var calls = await served.PublishAsync(events, 0, TimeSpan.FromSeconds(60));
        var complete = await clients.WaitForAsync(events, TimeSpan.FromSeconds(60));
        clock.Stop();
        var delivered = clients.Delivered;
        var expected = (long)subscribers * events;
        var latency = clients.Latency();
        var cpu = server.CpuTime() - cpuBefore;
        return
        [
            new(name, peer, "deliveries/s", delivered / clock.Elapsed.TotalSeconds, "/s", true, complete ? "" : $"incomplete: {delivered}/{expected}"),
            new(name, peer, "lost", expected - Math.Min(expected, delivered), "events", false),
            new(name, peer, "duplicates", Math.Max(0, clients.MaxPerClient() - events), "events", false),
            new(name, peer, "p99 latency", latency.P99, "ms", false),
            new(name, peer, "server CPU", cpu.TotalMilliseconds, "ms", false),
            new(name, peer, "server CPU per delivery", cpu.TotalMicroseconds / Math.Max(1, delivered), "µs", false),
            .. PublishFigures(name, peer, clients, calls),
        ];
    }

    /// <summary>What every fan-out scenario reports beside its own figures: frames on the wire, and the publish call as the publisher timed it.</summary>
    private static List<Measurement> PublishFigures(string name, string peer, LoadClients clients, PublishCalls calls) =>
    [
        // Above 1 when a server coalesces what queues up for a connection (MoltBeat's batch=1 clients; the peers send one event a frame).
        new(name, peer, "deliveries per frame", clients.Delivered / (double)Math.Max(1, clients.EventFrames), "", true),
        new(name, peer, "publish call p50", calls.P50, "µs", false),
        new(name, peer, "publish call p99", calls.P99, "µs", false),
    ];

    /// <summary>fanout-steady: events at a fixed rate for a while, in publish <paramref name="mode"/>; end-to-end latency percentiles.</summary>
    public static async Task<List<Measurement>> FanoutSteadyAsync(string peer, string mode, string root, int subscribers, double perSecond, TimeSpan duration)
    {
        var name = $"fanout-steady {subscribers / 1000.0:0.#}k x {perSecond}/s [{mode}]";
        await using var served = await ServedPeer.StartAsync(peer, mode, root);
        var server = served.Server;
        await using var clients = await LoadClients.ConnectAsync(peer, server.WsUri, subscribers, recordLatency: true);
        await WarmUpAsync(served, clients);
        var events = (int)(perSecond * duration.TotalSeconds);
        // Two seconds at the same rate, not measured: until then both processes are still compiling their hot
        // paths (a profile of the first seconds shows the JIT taking a tenth of the machine), for every peer alike.
        await UnmeasuredRoundAsync(served, clients, (int)(perSecond * 2), perSecond);
        var cpuBefore = server.CpuTime();
        var loadCpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var machineBefore = MachineCpu.Read();
        var clock = Stopwatch.StartNew();
        // A server that cannot even take publishes at this rate (its publish call does the whole fan-out) is
        // measured over what it did in twice the time, not waited for.
        var calls = await served.PublishAsync(events, perSecond, duration * 2);
        var complete = await clients.WaitForAsync(calls.Count, TimeSpan.FromSeconds(10)) && calls.Count == events;
        var machineBusy = MachineCpu.Read().BusyPercentSince(machineBefore);
        var wall = clock.Elapsed;
        var latency = clients.Latency();
        var sincePublish = clients.LatencySincePublish();
        var note = complete ? "" : $"fell behind: {clients.Delivered}/{(long)subscribers * events} delivered, {calls.Count}/{events} published";
        var deliveries = Math.Max(1, clients.Delivered);
        return
        [
            new(name, peer, "p50 latency", latency.P50, "ms", false, note),
            new(name, peer, "p99 latency", latency.P99, "ms", false, note),
            new(name, peer, "max latency", latency.Max, "ms", false, note),
            new(name, peer, "p99 latency since the publish call", sincePublish.P99, "ms", false, note),
            // CPU per delivery tells where the machine's two cores went: the server, or the load generator beside it.
            new(name, peer, "server CPU per delivery", (server.CpuTime() - cpuBefore).TotalMicroseconds / deliveries, "µs", false),
            new(name, peer, "load generator CPU per delivery", (Process.GetCurrentProcess().TotalProcessorTime - loadCpuBefore).TotalMicroseconds / deliveries, "µs", false),
            new(name, peer, "machine CPU busy", machineBusy, "%", false),
            new(name, peer, "wall time", wall.TotalSeconds, "s", false),
            .. PublishFigures(name, peer, clients, calls),
        ];
    }

    /// <summary>
    /// slow-consumer: readers at a steady rate, once alone and once beside one subscriber that never reads;
    /// the readers' p99 both ways, the server's memory growth, and whether the stalled one was cut off.
    /// </summary>
    public static async Task<List<Measurement>> SlowConsumerAsync(string peer, string mode, string root, int readers, double perSecond, TimeSpan duration)
    {
        var name = $"slow-consumer {readers / 1000.0:0.#}k x {perSecond}/s [{mode}]";
        var events = (int)(perSecond * duration.TotalSeconds);
        // ~6 KB events: within the run, the stalled client's backlog outgrows what the kernel buffers for it
        // (up to 4 MB here) plus a server's default bound (MoltBeat: 1 MB), so a bound has to act; 1k readers
        // at 100/s (600 MB/s over loopback) still fit this machine.
        const int pad = 6000;
        await using var served = await ServedPeer.StartAsync(peer, mode, root);
        var server = served.Server;
        await using var clients = await LoadClients.ConnectAsync(peer, server.WsUri, readers, recordLatency: true);
        await WarmUpAsync(served, clients);
        // A first round that is not measured (JIT, pools), so that both measured rounds start warm.
        await UnmeasuredRoundAsync(served, clients, events / 4, perSecond, pad);
        await served.PublishAsync(events, perSecond, duration + TimeSpan.FromSeconds(60), pad);
        await clients.WaitForAsync(events, TimeSpan.FromSeconds(30));
        var alone = clients.Latency();
        clients.ResetCounts();

        var rssBefore = server.RssBytes();
        using var stalled = await StalledClient.ConnectAsync(LoadClients.ClientUri(peer, server.WsUri), LoadClients.SubscribeMessages(peer));
        await Task.Delay(500);
        await served.PublishAsync(events, perSecond, duration + TimeSpan.FromSeconds(60), pad);
        var complete = await clients.WaitForAsync(events, TimeSpan.FromSeconds(30));
        var beside = clients.Latency();
        var rssGrowth = (server.RssBytes() - rssBefore) / 1024.0 / 1024.0;
        var closeCode = await stalled.ReadCloseCodeAsync(TimeSpan.FromSeconds(3));
        return
        [
            new(name, peer, "readers p99 alone", alone.P99, "ms", false),
            new(name, peer, "readers p99 beside a stalled client", beside.P99, "ms", false, complete ? "" : "readers fell behind"),
            new(name, peer, "server RSS growth", rssGrowth, "MB", false),
            new(name, peer, "stalled client's close code", closeCode ?? -1, "(-1: still open)", true),
        ];
    }

    /// <summary>
    /// max-connections: as many subscribed connections as one server process takes, up to
    /// <paramref name="target"/> (the open-file limit here is 20 000 per process, for server and load
    /// generator alike); every one must then receive an event.
    /// </summary>
    public static async Task<List<Measurement>> MaxConnectionsAsync(string peer, string root, int target)
    {
        var name = $"max-connections (target {target / 1000.0:0.#}k)";
        // moltbeat-server, the server application, is published to over HTTP only (and then warmed up that way).
        await using var served = peer == "moltbeat-server"
            ? await ServedPeer.StartAsync("moltbeat", PublishModes.Http, root)
            : await ServedPeer.StartAsync(peer, PublishModes.Loop, root);
        var server = served.Server;
        await using var clients = await LoadClients.ConnectAsManyAsAsync(peer, server.WsUri, target);
        await WarmUpAsync(served, clients);
        return
        [
            new(name, peer, "connections served", clients.Count, "", true),
            new(name, peer, "server RSS", server.RssBytes() / 1024.0 / 1024.0, "MB", false),
        ];
    }

    /// <summary>idle-memory: server RSS per idle, subscribed connection, above the empty server.</summary>
    public static async Task<List<Measurement>> IdleMemoryAsync(string peer, string root, int connections)
    {
        var name = $"idle-memory {connections / 1000.0:0.#}k";
        // moltbeat-server, the server application, is published to over HTTP only (and then warmed up that way).
        await using var served = peer == "moltbeat-server"
            ? await ServedPeer.StartAsync("moltbeat", PublishModes.Http, root)
            : await ServedPeer.StartAsync(peer, PublishModes.Loop, root);
        var server = served.Server;
        // Warm the empty server up (JIT, pools) with a few clients first, then measure from there.
        await using (var warm = await LoadClients.ConnectAsync(peer, server.WsUri, 20, recordLatency: false))
            await WarmUpAsync(served, warm);
        await Task.Delay(500);
        var emptyHeap = await server.CollectGarbageAsync();
        var empty = server.RssBytes();
        await using var clients = await LoadClients.ConnectAsync(peer, server.WsUri, connections, recordLatency: false);
        await WarmUpAsync(served, clients);
        await Task.Delay(2000);
        var loadedHeap = await server.CollectGarbageAsync();
        var loaded = server.RssBytes();
        return
        [
            new(name, peer, "RSS per connection", (loaded - empty) / 1024.0 / connections, "KB", false),
            new(name, peer, "heap per connection", (loadedHeap - emptyHeap) / 1024.0 / connections, "KB", false),
        ];
    }

    /// <summary>Events published and received but not measured (warming up), the counts reset after.</summary>
    private static async Task UnmeasuredRoundAsync(ServedPeer server, LoadClients clients, int events, double perSecond, int pad = BenchPayload.DefaultPad)
    {
        await server.PublishAsync(events, perSecond, TimeSpan.FromSeconds(60) + TimeSpan.FromSeconds(perSecond > 0 ? events / perSecond : 0), pad);
        await clients.WaitForAsync(events, TimeSpan.FromSeconds(60));
        clients.ResetCounts();
    }

    /// <summary>One event to everybody, so that every subscription is known to be in place before measuring.</summary>
    private static async Task WarmUpAsync(ServedPeer server, LoadClients clients)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            await server.PublishAsync(1, 0, TimeSpan.FromSeconds(30));
            if (await clients.WaitForAsync(1, TimeSpan.FromMilliseconds(500 + clients.Count / 10)))
            {
                clients.ResetCounts();
                return;
            }
            clients.ResetCounts();
        }
        throw new InvalidOperationException($"{server.Server.Name}: subscribers never all joined");
    }
}
