using System.Text;

namespace MoltBeat.Bench.Harness;

/// <summary>
/// Many subscribers on one peer, each a <see cref="BenchSocket"/> speaking that peer's protocol (the adapters
/// below), counting the benchmark events it receives and their end-to-end latency.
/// </summary>
internal sealed class LoadClients : IAsyncDisposable
{
    private static readonly byte[] DueMarker = Encoding.ASCII.GetBytes("\"due\":");
    private static readonly byte[] SentMarker = Encoding.ASCII.GetBytes(",\"sent\":");
    private readonly List<BenchSocket> _sockets = [];
    private readonly List<Task> _readers = [];
    private readonly CancellationTokenSource _stop = new();
    private long[] _counts = [];
    private long[] _frames = [];
    private readonly List<long>[] _latencies;
    private readonly List<long>[] _publishLatencies;
    private readonly bool _recordLatency;

    private LoadClients(int count, bool recordLatency)
    {
        _counts = new long[count];
        _frames = new long[count];
        _latencies = [.. Enumerable.Range(0, count).Select(_ => new List<long>())];
        _publishLatencies = [.. Enumerable.Range(0, count).Select(_ => new List<long>())];
        _recordLatency = recordLatency;
    }

    public int Count => _counts.Length;

    public long Delivered => _counts.Sum(c => Interlocked.Read(ref c));

    /// <summary>Frames that carried benchmark events (a batched frame holds several).</summary>
    public long EventFrames => _frames.Sum(c => Interlocked.Read(ref c));

    public long MinPerClient() => _counts.Min(c => Interlocked.Read(ref c));

    public int CountWithAtLeast(long events) => _counts.Count(c => Interlocked.Read(ref c) >= events);

    public long MaxPerClient() => _counts.Max(c => Interlocked.Read(ref c));

    /// <summary>Events missing, summed over the clients, when each should have <paramref name="perClient"/> (a client's extra ones do not hide another's missing ones).</summary>
    public long Shortfall(long perClient) => _counts.Sum(c => Math.Max(0, perClient - Interlocked.Read(ref c)));

    /// <summary>Events beyond <paramref name="perClient"/>, summed over the clients: received twice.</summary>
    public long Excess(long perClient) => _counts.Sum(c => Math.Max(0, Interlocked.Read(ref c) - perClient));

    /// <summary>The peer's WebSocket address as its clients use it (MoltBeat's own clients opt in to batching).</summary>
    public static Uri ClientUri(string peer, Uri ws) => peer.StartsWith("moltbeat", StringComparison.Ordinal) ? new Uri(ws + "?batch=1") : ws;

    /// <summary>
    /// Connects up to <paramref name="count"/> subscribers and stops at the first wave that fails (the
    /// server's or this process's limit); the clients that did connect are kept.
    /// </summary>
    public static Task<LoadClients> ConnectAsManyAsAsync(string peer, Uri ws, int count) =>
        ConnectInWavesAsync(peer, ws, count, recordLatency: false, stopAtLimit: true);

    /// <summary>Connects <paramref name="count"/> subscribers; any that fails to connect fails the scenario.</summary>
    public static Task<LoadClients> ConnectAsync(string peer, Uri ws, int count, bool recordLatency) =>
        ConnectInWavesAsync(peer, ws, count, recordLatency, stopAtLimit: false);

    private static async Task<LoadClients> ConnectInWavesAsync(string peer, Uri ws, int count, bool recordLatency, bool stopAtLimit)
    {
        var clients = new LoadClients(count, recordLatency);
        var uri = ClientUri(peer, ws);
        // Connect in parallel waves, bounded, so 10k connections take seconds, not minutes.
        for (var start = 0; start < count; start += 200)
        {
            var wave = await Task.WhenAll(Enumerable.Range(start, Math.Min(200, count - start)).Select(async _ =>
            {
                try
                {
                    using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(stopAtLimit ? 30 : 60));
                    return await BenchSocket.ConnectAsync(uri, SubscribeMessages(peer), cts.Token);
                }
                catch (Exception ex) when (stopAtLimit && ex is IOException or OperationCanceledException or System.Net.Sockets.SocketException)
                {
                    return null;
                }
            }));
            clients._sockets.AddRange(wave.OfType<BenchSocket>());
            if (wave.Any(s => s is null))
                break;
        }
        clients._counts = new long[clients._sockets.Count];
        clients._frames = new long[clients._sockets.Count];
        for (var i = 0; i < clients._sockets.Count; i++)
        {
            var index = i;
            clients._readers.Add(Task.Run(() => clients.ReadAsync(index)));
        }
        return clients;
    }

    /// <summary>What a client sends to join the bench room, per peer protocol.</summary>
    public static IEnumerable<byte[]> SubscribeMessages(string peer) => peer switch
    {
        _ when peer.StartsWith("moltbeat", StringComparison.Ordinal) => [Encoding.UTF8.GetBytes($"{{\"type\":\"subscribe\",\"room\":\"{Peers.BenchPayload.Room}\"}}")],
        "signalr" =>
        [
            Encoding.UTF8.GetBytes("{\"protocol\":\"json\",\"version\":1}\u001e"),
            Encoding.UTF8.GetBytes($"{{\"type\":1,\"target\":\"Join\",\"arguments\":[\"{Peers.BenchPayload.Room}\"]}}\u001e"),
        ],
        _ => [Encoding.UTF8.GetBytes("subscribe")],
    };

    private async Task ReadAsync(int index)
    {
        try
        {
            await _sockets[index].ReadAsync(payload => CountEvents(index, payload), _stop.Token);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or System.Net.Sockets.SocketException or ObjectDisposedException)
        {
        }
    }

    /// <summary>
    /// Counts benchmark events in one frame (a batched frame holds several) by their "due" field, and records
    /// latency from "due" and from the "sent" field that follows it.
    /// </summary>
    private void CountEvents(int index, ReadOnlySpan<byte> frame)
    {
        var now = Peers.BenchPayload.NowMicros();
        var found = 0;
        var rest = frame;
        for (var at = rest.IndexOf(DueMarker); at >= 0; at = rest.IndexOf(DueMarker))
        {
            rest = rest[(at + DueMarker.Length)..];
            var due = KeyedEvents.ParseNumber(ref rest);
            found++;
            if (!_recordLatency)
                continue;
            _latencies[index].Add(now - due);
            if (rest.StartsWith(SentMarker))
            {
                rest = rest[SentMarker.Length..];
                _publishLatencies[index].Add(now - KeyedEvents.ParseNumber(ref rest));
            }
        }
        if (found > 0)
        {
            Interlocked.Add(ref _counts[index], found);
            Interlocked.Increment(ref _frames[index]);
        }
    }

    /// <summary>Waits until every client has at least <paramref name="perClient"/> events, or the timeout.</summary>
    public async Task<bool> WaitForAsync(long perClient, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (MinPerClient() < perClient)
        {
            if (DateTime.UtcNow > deadline)
                return false;
            await Task.Delay(2);
        }
        return true;
    }

    public void ResetCounts()
    {
        _counts = new long[_counts.Length];
        _frames = new long[_frames.Length];
        foreach (var l in _latencies.Concat(_publishLatencies))
            lock (l)
                l.Clear();
    }

    /// <summary>Latency percentiles in milliseconds over every recorded event, from when it was due.</summary>
    public (double P50, double P90, double P99, double Max) Latency() => Percentiles(_latencies);

    /// <summary>Latency percentiles in milliseconds from when the server's publish call ran.</summary>
    public (double P50, double P90, double P99, double Max) LatencySincePublish() => Percentiles(_publishLatencies);

    /// <summary>Latency percentiles in milliseconds over several sets of clients together (several nodes' subscribers), from when events were due or, with <paramref name="sincePublish"/>, from the publish call.</summary>
    public static (double P50, double P90, double P99, double Max) Latency(IEnumerable<LoadClients> sets, bool sincePublish) =>
        Percentiles([.. sets.SelectMany(s => sincePublish ? s._publishLatencies : s._latencies)]);

    private static (double P50, double P90, double P99, double Max) Percentiles(List<long>[] perClient)
    {
        var all = perClient.SelectMany(l => l).Order().Select(micros => micros / 1000.0).ToArray();
        if (all.Length == 0)
            return (0, 0, 0, 0);
        return (Percentile.Of(all, 0.5), Percentile.Of(all, 0.9), Percentile.Of(all, 0.99), all[^1]);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        foreach (var socket in _sockets)
            socket.Dispose();
        await Task.WhenAll(_readers);
        _stop.Dispose();
    }
}
