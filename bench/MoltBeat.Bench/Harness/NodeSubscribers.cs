namespace MoltBeat.Bench.Harness;

/// <summary>
/// Subscribers on each of several MoltBeat nodes of one deployment (one <see cref="LoadClients"/> per node, all
/// in the bench room): every event published on any node should reach every one of them.
/// </summary>
internal sealed class NodeSubscribers : IAsyncDisposable
{
    private readonly LoadClients[] _sets;

    private NodeSubscribers(LoadClients[] sets) => _sets = sets;

    public int Count => _sets.Sum(s => s.Count);

    /// <summary>Connects <paramref name="perNode"/> subscribers (batching on) to each of <paramref name="nodes"/>.</summary>
    public static async Task<NodeSubscribers> ConnectAsync(IReadOnlyList<PeerProcess> nodes, int perNode, bool recordLatency)
    {
        var sets = new List<LoadClients>();
        try
        {
            foreach (var node in nodes)
                sets.Add(await LoadClients.ConnectAsync("moltbeat", node.WsUri, perNode, recordLatency));
            return new([.. sets]);
        }
        catch
        {
            foreach (var set in sets)
                await set.DisposeAsync();
            throw;
        }
    }

    /// <summary>One event published on the first node until every subscriber of every node has it (each is then subscribed); counts reset.</summary>
    public async Task WarmUpAsync(PeerProcess publisher)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            await publisher.PublishAsync(1, 0, TimeSpan.FromSeconds(30), mode: Peers.PublishModes.Awaited);
            var joined = await WaitForAsync(1, TimeSpan.FromMilliseconds(500 + Count / 10));
            ResetCounts();
            if (joined)
                return;
        }
        throw new InvalidOperationException("redis-throughput: subscribers never all joined");
    }

    /// <summary>Waits until every subscriber of every node has <paramref name="perClient"/> events, or the timeout.</summary>
    public async Task<bool> WaitForAsync(long perClient, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        // A node may have none (a round without subscribers): nothing to wait for there.
        foreach (var set in _sets.Where(s => s.Count > 0))
        {
            if (!await set.WaitForAsync(perClient, deadline - DateTime.UtcNow))
                return false;
        }
        return true;
    }

    /// <summary>Events missing, over every subscriber, when each should have <paramref name="perClient"/>.</summary>
    public long Shortfall(long perClient) => _sets.Sum(s => s.Shortfall(perClient));

    /// <summary>Events received beyond <paramref name="perClient"/>, over every subscriber.</summary>
    public long Excess(long perClient) => _sets.Sum(s => s.Excess(perClient));

    public long Delivered => _sets.Sum(s => s.Delivered);

    /// <summary>Events a frame, over every subscriber (above 1 when a node batches what queued up for a connection).</summary>
    public double DeliveriesPerFrame => Delivered / (double)Math.Max(1, _sets.Sum(s => s.EventFrames));

    /// <summary>Latency percentiles (ms) over every node's subscribers, from when events were due or from the publish call.</summary>
    public (double P50, double P90, double P99, double Max) Latency(bool sincePublish) => LoadClients.Latency(_sets, sincePublish);

    public void ResetCounts()
    {
        foreach (var set in _sets)
            set.ResetCounts();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var set in _sets)
            await set.DisposeAsync();
    }
}
