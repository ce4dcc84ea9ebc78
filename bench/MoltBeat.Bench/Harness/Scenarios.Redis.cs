using System.Diagnostics;

namespace MoltBeat.Bench.Harness;

/// <summary>The scenarios that run MoltBeat on its Redis engine (no peer has history or a backplane to compare).</summary>
internal static partial class Scenarios
{
    /// <summary>
    /// reconnect-storm: <paramref name="subscribers"/> MoltBeat clients on one server, events published at
    /// <paramref name="perSecond"/> by a second server on the same Redis (a backend on another node), and the
    /// first server restarted (graceful stop, closing with 1001, then a new process on the same port). The
    /// clients come back with the library's default backoff and resubscribe with <c>since</c>. Measured: the
    /// time from the drop until every client is back, and until every client is complete again (it has an
    /// event published after it resubscribed, with none missing before it); events missing or repeated; the
    /// restarted server's peak CPU. MoltBeat only: none of the peers can recover missed events.
    /// </summary>
    public static async Task<List<Measurement>> ReconnectStormAsync(string root, int subscribers, double perSecond, TimeSpan restartAfter)
    {
        const string peer = "moltbeat";
        var name = $"reconnect-storm {subscribers / 1000.0:0.#}k";
        await using var redis = await RedisProcess.StartAsync();
        await using var publisher = await PeerProcess.StartAsync("moltbeat-redis", root, redis: redis.Configuration);
        var served = await PeerProcess.StartAsync("moltbeat-redis", root, redis: redis.Configuration);
        try
        {
            await using var clients = await RecoveringClients.ConnectAsync(served.WsUri, subscribers);
            var startOffset = await clients.WaitSubscribedAsync(TimeSpan.FromSeconds(60));
            using var stopPublishing = new CancellationTokenSource();
            var publishing = PublishUntilAsync(publisher, perSecond, stopPublishing.Token);
            await Task.Delay(restartAfter);

            var droppedAt = Peers.BenchPayload.NowMicros();
            var redisCpuBefore = redis.CpuTime();
            await served.DisposeAsync();
            var stoppedAt = Peers.BenchPayload.NowMicros();
            served = await PeerProcess.StartAsync("moltbeat-redis", root, served.Port, redis.Configuration);
            var restartedAt = Peers.BenchPayload.NowMicros();
            var recovering = clients.WaitAllRecoveredAsync(droppedAt, TimeSpan.FromSeconds(90));
            var peakCpu = await PeakCpuPercentAsync(served, recovering);
            var completeAt = await recovering;
            var serverCpu = served.CpuTime();
            var redisCpu = redis.CpuTime() - redisCpuBefore;

            await stopPublishing.CancelAsync();
            var finalOffset = startOffset + await publishing;
            await clients.WaitForOffsetAsync(finalOffset, TimeSpan.FromSeconds(30));
            var note = completeAt is null ? "not all complete within 90 s" : "";
            if (!clients.Errors.IsEmpty)
                note += $" {clients.Errors.Count} error replies, e.g. {clients.Errors.First()}";
            var toRecover = clients.SecondsToRecover();
            return
            [
                new(name, peer, "clients back", clients.Reconnected, $"of {subscribers}", true),
                new(name, peer, "server stop (closing every connection)", (stoppedAt - droppedAt) / 1e6, "s", false),
                new(name, peer, "server start", (restartedAt - stoppedAt) / 1e6, "s", false),
                new(name, peer, "time until all back", (clients.LastReconnectedAt - droppedAt) / 1e6, "s", false),
                new(name, peer, "time until all complete", ((completeAt ?? Peers.BenchPayload.NowMicros()) - droppedAt) / 1e6, "s", false, note),
                new(name, peer, "p99 from reconnect to complete", Percentile.Of(toRecover, 0.99), "s", false),
                new(name, peer, "max from reconnect to complete", Percentile.Of(toRecover, 1), "s", false),
                new(name, peer, "lost", clients.Missing + clients.Shortfall(finalOffset), "events", false, note),
                new(name, peer, "duplicates", clients.Duplicates, "events", false),
                new(name, peer, "not recovered", clients.NotRecovered, "subscriptions", false),
                new(name, peer, "server peak CPU", peakCpu, "% of a core", false),
                new(name, peer, "server CPU until complete", serverCpu.TotalSeconds, "s", false),
                new(name, peer, "Redis CPU until complete", redisCpu.TotalSeconds, "s", false),
            ];
        }
        finally
        {
            await served.DisposeAsync();
        }
    }

    /// <summary>Publishes at <paramref name="perSecond"/> in half-second rounds until cancelled; returns how many.</summary>
    private static async Task<int> PublishUntilAsync(PeerProcess publisher, double perSecond, CancellationToken stop)
    {
        var round = Math.Max(1, (int)(perSecond / 2));
        var published = 0;
        while (!stop.IsCancellationRequested)
        {
            await publisher.PublishAsync(round, perSecond, TimeSpan.FromSeconds(30));
            published += round;
        }
        return published;
    }

    /// <summary>The highest CPU use of <paramref name="server"/> over quarter-second samples until <paramref name="until"/> ends, in % of one core.</summary>
    private static async Task<double> PeakCpuPercentAsync(PeerProcess server, Task until)
    {
        var peak = 0.0;
        var cpu = server.CpuTime();
        var clock = Stopwatch.StartNew();
        while (!until.IsCompleted)
        {
            await Task.WhenAny(until, Task.Delay(250));
            var now = server.CpuTime();
            peak = Math.Max(peak, 100 * (now - cpu) / clock.Elapsed);
            cpu = now;
            clock.Restart();
        }
        return peak;
    }

    /// <summary>
    /// max-connections on <paramref name="nodes"/> MoltBeat processes sharing one Redis: each node filled to
    /// <paramref name="perNode"/> subscribers by a load generator process of its own (one process's open-file
    /// limit is the bound on either side); then one event published on the first node must reach every
    /// subscriber of every node, through Redis.
    /// </summary>
    /// <remarks>
    /// With <paramref name="sharedPort"/> the nodes listen on one port (<c>SO_REUSEPORT</c>) and the kernel spreads the
    /// connections over them, so one address holds more connections than one process may open; the load generators all
    /// connect to that port.
    /// </remarks>
    public static async Task<List<Measurement>> MaxConnectionsOnRedisAsync(string root, int nodes, int perNode, bool sharedPort = false)
    {
        const string peer = "moltbeat";
        var name = sharedPort
            ? $"max-connections on one port, {nodes} Redis nodes sharing it (target {nodes * perNode / 1000.0:0.#}k)"
            : $"max-connections on {nodes} Redis nodes (target {nodes * perNode / 1000.0:0.#}k)";
        await using var redis = await RedisProcess.StartAsync();
        var servers = new List<PeerProcess>();
        var loads = new List<LoadProcess>();
        int? port = sharedPort ? PeerProcess.FreePort() : null;
        try
        {
            for (var i = 0; i < nodes; i++)
                servers.Add(await PeerProcess.StartAsync(sharedPort ? "moltbeat-redis-reuseport" : "moltbeat-redis", root, port, redis.Configuration));
            // One node after the other, so that the figure does not depend on how three connection storms share two cores.
            foreach (var server in servers)
                loads.Add(await LoadProcess.StartAsync(peer, server.WsUri, perNode));
            var connected = loads.Sum(l => l.Connected);
            // A client's subscribe completes shortly after its connection: publish until every one has had an
            // event (each has then received at least one), as WarmUpAsync does with one load generator.
            var reached = 0;
            for (var events = 1; events <= 10 && reached < connected; events++)
            {
                await servers[0].PublishAsync(1, 0, TimeSpan.FromSeconds(60));
                reached = (await Task.WhenAll(loads.Select(l => l.CountWithAsync(1)))).Sum();
            }
            return
            [
                new(name, peer, "connections served", reached, "", true, reached == connected ? "" : $"{connected} connected, {reached} got the event"),
                new(name, peer, "lost", connected - reached, "events", false),
                new(name, peer, "server RSS per node", servers.Average(s => s.RssBytes()) / 1024.0 / 1024.0, "MB", false),
            ];
        }
        finally
        {
            foreach (var load in loads)
                await load.DisposeAsync();
            foreach (var server in servers)
                await server.DisposeAsync();
        }
    }
}
