using System.Globalization;
using System.Text;

namespace MoltBeat.Bench.Harness;

/// <summary>
/// Subscribers of the conflation scenario, all with the same subscribe options (<c>maxRate</c> or none), reading
/// keyed events (<see cref="KeyedEvents"/>) and checking them: offsets only increase, every published event is
/// accounted for (each received one stands for itself and the <c>conflated</c> it replaced), how close together
/// maxRate+1 arrivals of one key came, and how stale each key's value was when it arrived.
/// </summary>
internal sealed class ConflationClients : IAsyncDisposable
{
    private readonly Subscriber[] _subscribers;
    private readonly List<BenchSocket> _sockets = [];
    private readonly List<Task> _readers = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly int _keys;
    private readonly double _perSecond;

    private ConflationClients(int count, int? maxRate, int keys, double perSecond)
    {
        MaxRate = maxRate;
        _keys = keys;
        _perSecond = perSecond;
        _subscribers = [.. Enumerable.Range(0, count).Select(_ => new Subscriber(keys, maxRate ?? 0))];
    }

    /// <summary>The subscription's <c>maxRate</c>, null for none.</summary>
    public int? MaxRate { get; }

    public int Count => _subscribers.Length;

    /// <summary>
    /// Staleness of what arrived (ms): from when the oldest event a received one stands for was due (itself, or
    /// the oldest it replaced) to its arrival. For a chart, how old its newest value of a key could be.
    /// </summary>
    public LatencyHistogram Staleness { get; } = new();

    /// <summary>
    /// Connects <paramref name="count"/> subscribers to the bench room (batching on), with
    /// <paramref name="maxRate"/> when given, for a feed of <paramref name="perSecond"/> events a second
    /// round robin over <paramref name="keys"/> keys (which tells how old a replaced event was).
    /// </summary>
    public static async Task<ConflationClients> ConnectAsync(Uri ws, int count, int? maxRate, int keys, double perSecond)
    {
        var clients = new ConflationClients(count, maxRate, keys, perSecond);
        var rate = maxRate is { } r ? string.Create(CultureInfo.InvariantCulture, $",\"maxRate\":{r}") : "";
        byte[] subscribe = Encoding.UTF8.GetBytes($"{{\"type\":\"subscribe\",\"room\":\"{Peers.BenchPayload.Room}\"{rate}}}");
        var uri = LoadClients.ClientUri("moltbeat", ws);
        for (var start = 0; start < count; start += 200)
        {
            clients._sockets.AddRange(await Task.WhenAll(Enumerable.Range(start, Math.Min(200, count - start)).Select(async _ =>
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                return await BenchSocket.ConnectAsync(uri, [subscribe], cts.Token);
            })));
        }
        for (var i = 0; i < count; i++)
        {
            var (socket, subscriber) = (clients._sockets[i], clients._subscribers[i]);
            clients._readers.Add(Task.Run(() => clients.ReadAsync(socket, subscriber)));
        }
        return clients;
    }

    private async Task ReadAsync(BenchSocket socket, Subscriber subscriber)
    {
        try
        {
            await socket.ReadAsync(frame => Receive(subscriber, frame), _stop.Token);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or System.Net.Sockets.SocketException or ObjectDisposedException)
        {
        }
    }

    private void Receive(Subscriber subscriber, ReadOnlySpan<byte> frame)
    {
        var now = Peers.BenchPayload.NowMicros();
        var events = KeyedEvents.ForEach(frame, (in KeyedEvent e) =>
        {
            subscriber.Accept(e, now);
            // The oldest event this one stands for: its key recurs every _keys events, so the k-th it
            // replaced was due k * _keys / rate seconds before it.
            var oldestDue = e.Due - (long)(e.Conflated * _keys * 1_000_000 / _perSecond);
            Staleness.Record(now - oldestDue);
        });
        if (events > 0)
        {
            Interlocked.Increment(ref subscriber.Frames);
            Interlocked.Add(ref subscriber.Bytes, frame.Length);
        }
    }

    /// <summary>Events received in all.</summary>
    public long Received => _subscribers.Sum(s => Interlocked.Read(ref s.Events));

    /// <summary>Events conflated away in all (the sum of <c>conflated</c> received).</summary>
    public long Conflated => _subscribers.Sum(s => Interlocked.Read(ref s.ConflatedAway));

    /// <summary>Frames that carried events, in all (one a release for a subscription with maxRate).</summary>
    public long Frames => _subscribers.Sum(s => Interlocked.Read(ref s.Frames));

    /// <summary>Bytes of the frames that carried events, in all.</summary>
    public long Bytes => _subscribers.Sum(s => Interlocked.Read(ref s.Bytes));

    /// <summary>
    /// The shortest time (ms) in which one subscriber received maxRate+1 events of one key: at least a second
    /// apart at the server (its releases are), less by how much more one release's write was delayed than another's.
    /// </summary>
    public double ShortestSpanMs => _subscribers.Min(s => s.ShortestSpan) / 1000.0;

    /// <summary>Events that came with an offset not above the one before.</summary>
    public long OutOfOrder => _subscribers.Sum(s => s.OutOfOrder);

    /// <summary>Published events each subscriber has accounted for (received or replaced), the lowest of them.</summary>
    public long MinAccounted() => _subscribers.Min(s => Interlocked.Read(ref s.Events) + Interlocked.Read(ref s.ConflatedAway));

    /// <summary>The highest, to see events counted twice.</summary>
    public long MaxAccounted() => _subscribers.Max(s => Interlocked.Read(ref s.Events) + Interlocked.Read(ref s.ConflatedAway));

    /// <summary>Waits until every subscriber accounts for <paramref name="events"/> events, or the timeout.</summary>
    public async Task<bool> WaitForAsync(long events, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (MinAccounted() < events)
        {
            if (DateTime.UtcNow > deadline)
                return false;
            await Task.Delay(5);
        }
        return true;
    }

    /// <summary>Starts counting afresh (the checks of order and rate go on).</summary>
    public void ResetCounts()
    {
        foreach (var s in _subscribers)
            s.Reset();
        Staleness.Reset();
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        foreach (var socket in _sockets)
            socket.Dispose();
        await Task.WhenAll(_readers);
        _stop.Dispose();
    }

    /// <summary>One subscriber's counts, touched by its reader only (the totals are read with Interlocked).</summary>
    private sealed class Subscriber(int keys, int maxRate)
    {
        public long Events;
        public long ConflatedAway;
        public long Frames;
        public long Bytes;
        public long ShortestSpan = long.MaxValue;
        public long OutOfOrder;
        private long _lastOffset = -1;

        // Per key, the arrival times (µs) of its last maxRate events, a ring each: an arrival and the one maxRate
        // arrivals back are maxRate+1 arrivals, which should span a second.
        private readonly long[] _arrivals = new long[keys * maxRate];
        private readonly int[] _next = new int[maxRate == 0 ? 0 : keys];

        public void Accept(in KeyedEvent e, long now)
        {
            Interlocked.Increment(ref Events);
            Interlocked.Add(ref ConflatedAway, e.Conflated);
            if (e.Offset >= 0)
            {
                if (e.Offset <= _lastOffset)
                    OutOfOrder++;
                _lastOffset = e.Offset;
            }
            if (maxRate == 0 || e.Key < 0 || e.Key >= keys)
                return;
            var slot = (e.Key * maxRate) + _next[e.Key];
            if (_arrivals[slot] != 0)
                ShortestSpan = Math.Min(ShortestSpan, now - _arrivals[slot]);
            _arrivals[slot] = now;
            _next[e.Key] = (_next[e.Key] + 1) % maxRate;
        }

        public void Reset()
        {
            Interlocked.Exchange(ref Events, 0);
            Interlocked.Exchange(ref ConflatedAway, 0);
            Interlocked.Exchange(ref Frames, 0);
            Interlocked.Exchange(ref Bytes, 0);
            ShortestSpan = long.MaxValue;
        }
    }
}
