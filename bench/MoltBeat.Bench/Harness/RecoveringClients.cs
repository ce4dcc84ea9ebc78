using System.Globalization;
using System.Net.Sockets;
using System.Text;
using MoltBeat.WebSocket.Client;

namespace MoltBeat.Bench.Harness;

/// <summary>
/// MoltBeat subscribers that survive a server restart the way the protocol's clients do: each remembers the
/// epoch and the last offset it saw in the bench room, reconnects after a drop with the client library's
/// default backoff (full jitter, 5 s base), and resubscribes with <c>since</c>. Every event is checked against
/// the offset before it, so a missing or repeated event is counted, not assumed away.
/// </summary>
internal sealed class RecoveringClients : IAsyncDisposable
{
    private static readonly byte[] OffsetMarker = Encoding.ASCII.GetBytes($"\"{Peers.BenchPayload.Room}\":");
    private static readonly byte[] SentMarker = Encoding.ASCII.GetBytes("\"sent\":");
    private static readonly byte[] EpochMarker = Encoding.ASCII.GetBytes("\"epoch\":\"");
    private static readonly byte[] ReplyOffsetMarker = Encoding.ASCII.GetBytes("\"offset\":");
    private readonly Subscriber[] _subscribers;
    private readonly Uri _uri;
    private readonly ExponentialBackoffRetryPolicy _retry;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];

    private RecoveringClients(Uri uri, int count)
    {
        _uri = uri;
        _subscribers = [.. Enumerable.Range(0, count).Select(_ => new Subscriber())];
        var defaults = new MoltBeatWSClientOptions();
        _retry = new ExponentialBackoffRetryPolicy(defaults.ReconnectInterval, defaults.MaxReconnectDelay, defaults.MaxReconnectAttempts);
    }

    public int Count => _subscribers.Length;

    /// <summary>Connects <paramref name="count"/> subscribers (batching on, like MoltBeat's own clients) and keeps them connected.</summary>
    public static async Task<RecoveringClients> ConnectAsync(Uri ws, int count)
    {
        var clients = new RecoveringClients(LoadClients.ClientUri("moltbeat", ws), count);
        for (var start = 0; start < count; start += 200)
        {
            var wave = await Task.WhenAll(Enumerable.Range(start, Math.Min(200, count - start)).Select(async i =>
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                return await BenchSocket.ConnectAsync(clients._uri, [clients._subscribers[i].SubscribeMessage()], cts.Token);
            }));
            foreach (var (socket, index) in wave.Select((socket, i) => (socket, start + i)))
                clients._loops.Add(Task.Run(() => clients.StayConnectedAsync(clients._subscribers[index], socket)));
        }
        return clients;
    }

    /// <summary>Waits until every subscriber has its <c>subscribed</c> reply; returns the room's offset then.</summary>
    public async Task<long> WaitSubscribedAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (_subscribers.Any(s => s.Epoch is null))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{_subscribers.Count(s => s.Epoch is null)} of {Count} subscribers got no 'subscribed' reply");
            await Task.Delay(20);
        }
        return _subscribers.Max(s => Interlocked.Read(ref s.Offset));
    }

    /// <summary>Waits until every subscriber has the event at <paramref name="offset"/>.</summary>
    public async Task<bool> WaitForOffsetAsync(long offset, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (_subscribers.Any(s => Interlocked.Read(ref s.Offset) < offset))
        {
            if (DateTime.UtcNow > deadline)
                return false;
            await Task.Delay(20);
        }
        return true;
    }

    /// <summary>
    /// Waits until every subscriber dropped after <paramref name="droppedAfter"/> (µs) is complete again: it has
    /// received an event published after it resubscribed, with no gap before it, so it holds every event it missed.
    /// Returns the time of the last one to get there, in µs, or null on timeout.
    /// </summary>
    public async Task<long?> WaitAllRecoveredAsync(long droppedAfter, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (_subscribers.Any(s => Volatile.Read(ref s.DroppedAt) < droppedAfter || Volatile.Read(ref s.CompleteAt) == 0))
        {
            if (DateTime.UtcNow > deadline)
                return null;
            await Task.Delay(20);
        }
        return _subscribers.Max(s => s.CompleteAt);
    }

    /// <summary>
    /// Per subscriber, seconds from having its connection back to being complete (the missed events replayed
    /// and the next live one received): what the server's recovery costs a client, without the backoff.
    /// </summary>
    public double[] SecondsToRecover() =>
        [.. _subscribers.Where(s => s.CompleteAt > 0 && s.ReconnectedAt > 0).Select(s => (s.CompleteAt - s.ReconnectedAt) / 1e6).Order()];

    /// <summary>When the last subscriber had its connection back (µs).</summary>
    public long LastReconnectedAt => _subscribers.Max(s => Volatile.Read(ref s.ReconnectedAt));

    public long Missing => _subscribers.Sum(s => Interlocked.Read(ref s.Missing));

    /// <summary>Events up to <paramref name="offset"/> that subscribers still lack (they may yet arrive).</summary>
    public long Shortfall(long offset) => _subscribers.Sum(s => Math.Max(0, offset - Interlocked.Read(ref s.Offset)));

    /// <summary>Every <c>error</c> message the server sent (a refused or failed subscribe, for one).</summary>
    public System.Collections.Concurrent.ConcurrentBag<string> Errors { get; } = [];

    public long Duplicates => _subscribers.Sum(s => Interlocked.Read(ref s.Duplicates));

    public long NotRecovered => _subscribers.Sum(s => Interlocked.Read(ref s.NotRecovered));

    public long Reconnected => _subscribers.Count(s => Volatile.Read(ref s.ReconnectedAt) > 0);

    /// <summary>Reads one subscriber's connection until it drops, then reconnects it with backoff, until disposed.</summary>
    private async Task StayConnectedAsync(Subscriber subscriber, BenchSocket socket)
    {
        var token = _stop.Token;
        try
        {
            while (true)
            {
                int? closeCode;
                try
                {
                    closeCode = await socket.ReadAsync(frame => OnFrame(subscriber, frame), token);
                }
                catch (Exception ex) when (ex is SocketException or IOException)
                {
                    closeCode = null;
                }
                finally
                {
                    socket.Dispose();
                }
                Volatile.Write(ref subscriber.CompleteAt, 0);
                Volatile.Write(ref subscriber.DroppedAt, Peers.BenchPayload.NowMicros());
                socket = await ReconnectAsync(subscriber, closeCode is 0 ? null : closeCode, token);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
    }

    private async Task<BenchSocket> ReconnectAsync(Subscriber subscriber, int? closeCode, CancellationToken token)
    {
        var lostAt = DateTime.UtcNow;
        for (var attempt = 0; ; attempt++)
        {
            var delay = _retry.NextRetryDelay(new MoltBeatRetryContext(attempt, DateTime.UtcNow - lostAt, closeCode))
                ?? throw new InvalidOperationException($"a subscriber gave up reconnecting after {attempt} attempts");
            await Task.Delay(delay, token);
            Volatile.Write(ref subscriber.ResubscribedAt, Peers.BenchPayload.NowMicros());
            try
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(token);
                cts.CancelAfter(TimeSpan.FromSeconds(10));
                var socket = await BenchSocket.ConnectAsync(_uri, [subscriber.SubscribeMessage()], cts.Token);
                Volatile.Write(ref subscriber.ReconnectedAt, Peers.BenchPayload.NowMicros());
                return socket;
            }
            catch (Exception ex) when (ex is SocketException or IOException || (ex is OperationCanceledException && !token.IsCancellationRequested))
            {
            }
        }
    }

    /// <summary>One frame: messages separated by newlines (batching), each a <c>subscribed</c> reply or an event.</summary>
    private void OnFrame(Subscriber subscriber, ReadOnlySpan<byte> frame)
    {
        foreach (var range in frame.Split((byte)'\n'))
        {
            var message = frame[range];
            if (message.StartsWith("{\"type\":\"event\""u8))
                OnEvent(subscriber, message);
            else if (message.StartsWith("{\"type\":\"subscribed\""u8))
                OnSubscribed(subscriber, message);
            else if (message.StartsWith("{\"type\":\"error\""u8))
                Errors.Add(Encoding.UTF8.GetString(message));
        }
    }

    private static void OnEvent(Subscriber subscriber, ReadOnlySpan<byte> message)
    {
        var offset = NumberAfter(message, OffsetMarker);
        var last = Interlocked.Read(ref subscriber.Offset);
        if (offset <= last)
        {
            Interlocked.Increment(ref subscriber.Duplicates);
            return;
        }
        if (offset > last + 1)
            Interlocked.Add(ref subscriber.Missing, offset - last - 1);
        Interlocked.Exchange(ref subscriber.Offset, offset);
        // Live again: an event published after this subscriber resubscribed, every one before it in order.
        if (Volatile.Read(ref subscriber.CompleteAt) == 0 && NumberAfter(message, SentMarker) >= Volatile.Read(ref subscriber.ResubscribedAt))
            Volatile.Write(ref subscriber.CompleteAt, Peers.BenchPayload.NowMicros());
    }

    private static void OnSubscribed(Subscriber subscriber, ReadOnlySpan<byte> message)
    {
        var at = message.IndexOf(EpochMarker);
        var rest = at < 0 ? default : message[(at + EpochMarker.Length)..];
        var epoch = Encoding.ASCII.GetString(rest[..Math.Max(0, rest.IndexOf((byte)'"'))]);
        var recovered = message.IndexOf("\"recovered\":true"u8) >= 0;
        var offset = NumberAfter(message, ReplyOffsetMarker);
        if (subscriber.Epoch is not null && !recovered)
        {
            // The server could not give back what this subscriber missed: all of it is lost to it.
            Interlocked.Increment(ref subscriber.NotRecovered);
            Interlocked.Add(ref subscriber.Missing, Math.Max(0, offset - Interlocked.Read(ref subscriber.Offset)));
        }
        // A first subscription starts at the room's offset; a recovered one keeps its own (the missed events follow).
        if (subscriber.Epoch is null || !recovered)
            Interlocked.Exchange(ref subscriber.Offset, offset);
        subscriber.Epoch = epoch;
    }

    private static long NumberAfter(ReadOnlySpan<byte> message, ReadOnlySpan<byte> marker)
    {
        var at = message.IndexOf(marker);
        if (at < 0)
            return -1;
        long value = 0;
        foreach (var b in message[(at + marker.Length)..])
        {
            if (b is < (byte)'0' or > (byte)'9')
                break;
            value = value * 10 + (b - '0');
        }
        return value;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_loops);
        _stop.Dispose();
    }

    /// <summary>One subscriber's view of the room, written by its own read loop, read by the scenario.</summary>
    private sealed class Subscriber
    {
        public string? Epoch;
        public long Offset;
        public long Missing;
        public long Duplicates;
        public long NotRecovered;
        public long DroppedAt;
        public long ResubscribedAt;
        public long ReconnectedAt;
        public long CompleteAt;

        public byte[] SubscribeMessage() => Encoding.UTF8.GetBytes(Epoch is null
            ? $"{{\"type\":\"subscribe\",\"room\":\"{Peers.BenchPayload.Room}\"}}"
            : string.Create(CultureInfo.InvariantCulture, $"{{\"type\":\"subscribe\",\"room\":\"{Peers.BenchPayload.Room}\",\"since\":{{\"epoch\":\"{Epoch}\",\"offset\":{Interlocked.Read(ref Offset)}}}}}"));
    }
}
