using System.Diagnostics;
using MoltBeat.Bench.Peers;

namespace MoltBeat.Bench.Harness;

/// <summary>The redis-throughput scenario (issue 19): how many publishes a deployment of several nodes pushes through one Redis.</summary>
internal static partial class Scenarios
{
    /// <summary>Per node and second, a bound on a round's publishes far above what this machine does: the rounds end at their deadline.</summary>
    private const int MaxPublishesPerNodeSecond = 100_000;

    /// <summary>
    /// redis-throughput: <paramref name="nodes"/> <c>moltbeat-redis</c> nodes on one <c>redis-server</c>, each with
    /// <paramref name="perNode"/> subscribers of the bench room, so that every event is delivered on every node.
    /// (a) For each of <paramref name="inFlight"/>, every node publishes as fast as its publishes complete with that many
    /// outstanding, for <paramref name="duration"/>: publishes/s in all, the calls' p50/p99, every subscriber has every event;
    /// and once with one node publishing and no subscriber anywhere, for what publishing and receiving alone cost a node.
    /// (b) <paramref name="fixedRate"/> publishes/s in all, spread over the nodes, for <paramref name="duration"/>: the publish
    /// call's p99 (target 5 ms) and the delivery's. (c) Redis' own ceiling for the same script on the same server
    /// (<see cref="RedisCeiling"/>, <paramref name="ceilingRequests"/> calls pipelined and half as many unpipelined, from 50
    /// connections), beside MoltBeat's best figure. CPU of Redis and of the nodes tells where the time went.
    /// </summary>
    public static async Task<List<Measurement>> RedisThroughputAsync(string root, int nodes, int perNode, int[] inFlight, TimeSpan duration, double fixedRate, int ceilingRequests)
    {
        var name = $"redis-throughput {nodes} nodes x {perNode} subscribers";
        await using var redis = await RedisProcess.StartAsync();
        var servers = new List<PeerProcess>();
        try
        {
            for (var i = 0; i < nodes; i++)
                servers.Add(await PeerProcess.StartAsync("moltbeat-redis", root, redis: redis.Configuration));
            var results = new List<Measurement>();
            await using (var subscribers = await NodeSubscribers.ConnectAsync(servers, perNode, recordLatency: false))
            {
                await subscribers.WarmUpAsync(servers[0]);
                // Not measured: the nodes' hot paths are compiled (tiered JIT) and their pools filled first.
                await PublishOnEveryNodeAsync(servers, subscribers, inFlight[0], 0, duration / 4);
                subscribers.ResetCounts();
                foreach (var outstanding in inFlight)
                    results.AddRange(await FullSpeedAsync($"{name} [{outstanding} in flight per node]", redis, servers, subscribers, outstanding, duration));
            }
            var best = results.Where(m => m.Metric == "publishes/s").Select(m => m.Value).DefaultIfEmpty(0).Max();
            results.AddRange(await OnePublisherAsync($"redis-throughput {nodes} nodes, no subscribers, one of them publishing [{inFlight[0]} in flight]", redis, servers, inFlight[0], duration));
            // Latency is recorded per delivery, so only for the fixed rate's fewer events, on subscribers of its own.
            await using (var subscribers = await NodeSubscribers.ConnectAsync(servers, perNode, recordLatency: true))
            {
                await subscribers.WarmUpAsync(servers[0]);
                results.AddRange(await FixedRateAsync($"{name} [{fixedRate}/s in all]", redis, servers, subscribers, fixedRate, duration));
            }
            results.AddRange(await CeilingAsync($"redis-throughput: Redis ceiling, the publish script on the same redis-server", redis, servers[0], ceilingRequests, best));
            return results;
        }
        finally
        {
            foreach (var server in servers)
                await server.DisposeAsync();
        }
    }

    /// <summary>(a): every node publishes as fast as <paramref name="outstanding"/> publishes in flight allow, for <paramref name="duration"/>.</summary>
    private static async Task<List<Measurement>> FullSpeedAsync(string name, RedisProcess redis, List<PeerProcess> servers, NodeSubscribers subscribers, int outstanding, TimeSpan duration)
    {
        const string peer = "moltbeat";
        var cap = (int)(MaxPublishesPerNodeSecond * duration.TotalSeconds);
        // Each round counts its own events only (the previous round's are all in by now).
        subscribers.ResetCounts();
        var closedBefore = await SlowConsumerClosesAsync(servers);
        var round = await PublishOnEveryNodeAsync(servers, subscribers, outstanding, 0, duration, cap, redis);
        var published = round.Published;
        var closed = await SlowConsumerClosesAsync(servers) - closedBefore;
        // A subscriber that cannot keep up is closed with 4009 (its client would reconnect and recover): what it was not
        // sent counts as not delivered here, and the note says why.
        var note = round.Note + (closed > 0 ? $"; {closed} subscribers closed as slow consumers (4009)" : "");
        List<Measurement> results =
        [
            new(name, peer, "publishes/s", published / round.Wall.TotalSeconds, "/s", true, note),
            new(name, peer, "publish call p50", round.Calls.Max(c => c.P50), "µs", false, "slowest node"),
            new(name, peer, "publish call p99", round.Calls.Max(c => c.P99), "µs", false, "slowest node"),
            new(name, peer, "failed publishes", round.Calls.Sum(c => c.Failed), "", false),
        ];
        if (subscribers.Count > 0)
        {
            // With subscribers closed as slow consumers the shortfall is theirs, which the protocol allows (they
            // recover on reconnect), not a loss: named so, the run does not count it as one.
            results.Add(new(name, peer, closed > 0 ? "not delivered (slow consumers closed)" : "lost", subscribers.Shortfall(published), "deliveries", false, note));
            results.Add(new(name, peer, "duplicates", subscribers.Excess(published), "deliveries", false));
            results.Add(new(name, peer, "subscribers closed as slow consumers", closed, "", false));
            results.Add(new(name, peer, "all delivered after the last publish", round.Drain.TotalSeconds, "s", false));
            results.Add(new(name, peer, "deliveries per frame", subscribers.DeliveriesPerFrame, "", true));
        }
        results.AddRange(round.CpuFigures(name, peer));
        return results;
    }

    /// <summary>
    /// No subscribers, and the first node alone publishing as fast as <paramref name="outstanding"/> in flight allow: the
    /// other nodes only receive every event from Redis, so the CPU of each side tells the publish's cost from the receive's.
    /// </summary>
    private static async Task<List<Measurement>> OnePublisherAsync(string name, RedisProcess redis, List<PeerProcess> servers, int outstanding, TimeSpan duration)
    {
        const string peer = "moltbeat";
        await using var none = await NodeSubscribers.ConnectAsync(servers, 0, recordLatency: false);
        var round = await PublishOnEveryNodeAsync(servers, none, outstanding, 0, duration, redis: redis, publishers: 1);
        var published = Math.Max(1, round.Published);
        var receiving = Enumerable.Range(1, servers.Count - 1).Select(i => round.NodeCpu(i).TotalMicroseconds / published).DefaultIfEmpty(double.NaN).Average();
        return
        [
            new(name, peer, "publishes/s", round.Published / round.Wall.TotalSeconds, "/s", true, round.Note),
            new(name, peer, "publish call p50", round.Calls[0].P50, "µs", false),
            new(name, peer, "publish call p99", round.Calls[0].P99, "µs", false),
            new(name, peer, "failed publishes", round.Calls[0].Failed, "", false),
            new(name, peer, "publishing node's CPU per publish", round.NodeCpu(0).TotalMicroseconds / published, "µs", false, "its publish and its own receive of the event"),
            new(name, peer, "receiving node's CPU per event", receiving, "µs", false, "each other node, receiving from Redis only"),
            .. round.CpuFigures(name, peer),
        ];
    }

    /// <summary>(b): <paramref name="perSecond"/> publishes a second in all, an equal share on each node, for <paramref name="duration"/>.</summary>
    private static async Task<List<Measurement>> FixedRateAsync(string name, RedisProcess redis, List<PeerProcess> servers, NodeSubscribers subscribers, double perSecond, TimeSpan duration)
    {
        const string peer = "moltbeat";
        var share = perSecond / servers.Count;
        var events = (int)(share * duration.TotalSeconds);
        // Two seconds' worth (or the round's, if shorter) at the same rate first, not measured.
        await PublishOnEveryNodeAsync(servers, subscribers, 64, share, TimeSpan.FromSeconds(Math.Min(2, duration.TotalSeconds)) * 2, (int)(share * Math.Min(2, duration.TotalSeconds)));
        subscribers.ResetCounts();
        // 64 in flight per node: far more than the rate needs when calls take milliseconds, so a slow call does not hold
        // the schedule back; a node that cannot keep the rate is measured over twice the time, not waited for.
        var round = await PublishOnEveryNodeAsync(servers, subscribers, 64, share, duration * 2, events, redis);
        var published = round.Published;
        var expected = events * servers.Count;
        // Behind when not all were published, or not within the round's time (each node sends late events at once, faster than the rate).
        var behind = published < expected || round.Wall > duration * 1.05;
        var note = behind ? $"fell behind: {published}/{expected} published in {round.Wall.TotalSeconds:0.#} s of {duration.TotalSeconds:0.#}; {round.Note}".TrimEnd(' ', ';') : round.Note;
        var p99 = round.Calls.Max(c => c.P99);
        var latency = subscribers.Latency(sincePublish: false);
        return
        [
            new(name, peer, "publishes/s", published / round.Wall.TotalSeconds, "/s", true, note),
            new(name, peer, "publish call p50", round.Calls.Max(c => c.P50), "µs", false, "slowest node"),
            new(name, peer, "publish call p99", p99, "µs", false, p99 <= 5000 ? "slowest node; target ≤ 5 ms met" : "slowest node; target ≤ 5 ms NOT met"),
            new(name, peer, "failed publishes", round.Calls.Sum(c => c.Failed), "", false),
            new(name, peer, "delivery p50 latency", latency.P50, "ms", false),
            new(name, peer, "delivery p99 latency", latency.P99, "ms", false, note),
            new(name, peer, "delivery max latency", latency.Max, "ms", false),
            new(name, peer, "delivery p99 latency since the publish call", subscribers.Latency(sincePublish: true).P99, "ms", false),
            new(name, peer, "lost", subscribers.Shortfall(published), "deliveries", false, note),
            new(name, peer, "duplicates", subscribers.Excess(published), "deliveries", false),
            // Each frame is a socket write: the fewer deliveries a frame carries, the more of the nodes' CPU each delivery costs.
            new(name, peer, "deliveries per frame", subscribers.DeliveriesPerFrame, "", true),
            .. round.CpuFigures(name, peer),
        ];
    }

    /// <summary>
    /// One round of <c>publish-parallel</c> on every node at once (or the first <paramref name="publishers"/>), <paramref name="rate"/>
    /// each (0 for full speed), then until every subscriber has every published event (30 s at most); the counters of Redis,
    /// every node and this process around it.
    /// </summary>
    private static async Task<PublishRound> PublishOnEveryNodeAsync(List<PeerProcess> servers, NodeSubscribers subscribers, int outstanding, double rate, TimeSpan deadline, int? count = null, RedisProcess? redis = null, int? publishers = null)
    {
        var cap = count ?? (int)(MaxPublishesPerNodeSecond * deadline.TotalSeconds);
        var before = await CpuSnapshot.TakeAsync(redis, servers);
        var clock = Stopwatch.StartNew();
        var calls = await Task.WhenAll(servers.Take(publishers ?? servers.Count).Select(s => s.PublishParallelAsync(cap, outstanding, rate, deadline)));
        var wall = clock.Elapsed;
        var published = await CpuSnapshot.TakeAsync(redis, servers);
        var complete = await subscribers.WaitForAsync(calls.Sum(c => c.Count), TimeSpan.FromSeconds(30));
        var drain = clock.Elapsed - wall;
        var delivered = await CpuSnapshot.TakeAsync(redis, servers);
        var note = complete ? "" : $"incomplete after 30 s: {subscribers.Delivered}/{(long)calls.Sum(c => c.Count) * subscribers.Count} delivered";
        return new(calls, wall, drain, note, before, published, delivered);
    }

    /// <summary>(c): <see cref="RedisCeiling"/> pipelined (32) and not, from 50 connections, and MoltBeat's <paramref name="moltBeat"/> publishes/s beside it.</summary>
    private static async Task<List<Measurement>> CeilingAsync(string name, RedisProcess redis, PeerProcess publisher, int requests, double moltBeat)
    {
        const string peer = "moltbeat";
        if (RedisCeiling.FindBenchmark() is not { } benchmark)
            return [new(name, peer, "scripts/s, 50 connections, pipelined 32", double.NaN, "/s", true, "redis-benchmark not found on the PATH (it comes with redis-server, or apt-get install redis-tools): no ceiling measured")];
        await using var ceiling = await RedisCeiling.CaptureAsync(redis, () => publisher.PublishAsync(1, 0, TimeSpan.FromSeconds(30), mode: PublishModes.Awaited));
        var shape = $"{ceiling.Command[2]} keys, {ceiling.Command.Count - 3 - int.Parse(ceiling.Command[2], System.Globalization.CultureInfo.InvariantCulture)} args as a node sent them ({ceiling.SentAs}), under {{{RedisCeiling.Prefix}}}, 3 channel subscribers";
        var pipelined = await ceiling.RunAsync(benchmark, redis, 50, 32, requests, TimeSpan.FromSeconds(60));
        var unpipelined = await ceiling.RunAsync(benchmark, redis, 50, 1, requests / 2, TimeSpan.FromSeconds(60));
        return
        [
            .. pipelined.Figures(name, peer, "pipelined 32", shape),
            .. unpipelined.Figures(name, peer, "unpipelined", ""),
            new(name, peer, "failed script calls", pipelined.Scripts.Failed + unpipelined.Scripts.Failed, "", false),
            new(name, peer, "MoltBeat's best publishes/s / ceiling pipelined", 100 * moltBeat / pipelined.PerSecond, "%", true),
            new(name, peer, "MoltBeat's best publishes/s / ceiling unpipelined", 100 * moltBeat / unpipelined.PerSecond, "%", true),
        ];
    }

    private static async Task<long> SlowConsumerClosesAsync(List<PeerProcess> servers)
    {
        var closes = 0L;
        foreach (var server in servers)
            closes += (await server.StatsAsync()).SlowConsumerDisconnects;
        return closes;
    }
}
