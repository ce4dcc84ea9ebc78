using System.Diagnostics;

namespace MoltBeat.Bench.Harness;

/// <summary>
/// CPU used so far by Redis, by the nodes together, by this process (the load generator) and by the whole
/// machine, with Redis' script counters: taken around a round, they tell where its time went.
/// </summary>
internal sealed record CpuSnapshot(TimeSpan Redis, TimeSpan[] PerNode, TimeSpan LoadGenerator, MachineCpu Machine, ScriptStats? Scripts)
{
    /// <summary>The nodes' CPU together.</summary>
    public TimeSpan Nodes => PerNode.Aggregate(TimeSpan.Zero, (sum, n) => sum + n);

    /// <summary>Reads the counters now (Redis' are zero when <paramref name="redis"/> is null).</summary>
    public static async Task<CpuSnapshot> TakeAsync(RedisProcess? redis, IEnumerable<PeerProcess> nodes)
    {
        using var self = Process.GetCurrentProcess();
        return new(
            redis?.CpuTime() ?? TimeSpan.Zero,
            [.. nodes.Select(n => n.CpuTime())],
            self.TotalProcessorTime,
            MachineCpu.Read(),
            redis is null ? null : await ScriptStats.ReadAsync(redis));
    }
}

/// <summary>
/// One publish round on every node: each node's calls, the time they took (<see cref="Wall"/>) and from then until every
/// subscriber had every event (<see cref="Drain"/>), and the counters at its start, at its last publish and at its last delivery.
/// </summary>
internal sealed record PublishRound(Peers.PublishCalls[] Calls, TimeSpan Wall, TimeSpan Drain, string Note, CpuSnapshot Start, CpuSnapshot AtLastPublish, CpuSnapshot AtLastDelivery)
{
    /// <summary>Node <paramref name="i"/>'s CPU from the round's start to its last delivery.</summary>
    public TimeSpan NodeCpu(int i) => AtLastDelivery.PerNode[i] - Start.PerNode[i];

    /// <summary>Events published, on every node together.</summary>
    public int Published => Calls.Sum(c => c.Count);

    /// <summary>
    /// Where the time went: shares of a core while publishing (Redis near 100 % is Redis' limit; the machine near 100 %
    /// is this machine's), and CPU per publish until the last delivery (a node's includes receiving every node's events
    /// from Redis and writing them to its subscribers).
    /// </summary>
    public List<Measurement> CpuFigures(string name, string peer)
    {
        var publishes = Math.Max(1, Published);
        var results = new List<Measurement>
        {
            new(name, peer, "Redis CPU while publishing", 100 * (AtLastPublish.Redis - Start.Redis) / Wall, "% of a core", false),
            new(name, peer, "nodes' CPU while publishing", 100 * (AtLastPublish.Nodes - Start.Nodes) / Wall, "% of a core, all nodes", false),
            new(name, peer, "machine CPU busy while publishing", AtLastPublish.Machine.BusyPercentSince(Start.Machine), "% of 2 cores", false),
            new(name, peer, "Redis CPU per publish", (AtLastDelivery.Redis - Start.Redis).TotalMicroseconds / publishes, "µs", false),
            new(name, peer, "node CPU per publish", (AtLastDelivery.Nodes - Start.Nodes).TotalMicroseconds / publishes, "µs, all nodes", false),
            new(name, peer, "load generator CPU per publish", (AtLastDelivery.LoadGenerator - Start.LoadGenerator).TotalMicroseconds / publishes, "µs", false),
        };
        if (AtLastDelivery.Scripts is { } after && Start.Scripts is { } before && after - before is { Calls: > 0 } scripts)
            results.Add(new(name, peer, "Redis time in each script call", scripts.Micros / (double)scripts.Calls, "µs", false, ScriptStats.TimeNote));
        return results;
    }
}
