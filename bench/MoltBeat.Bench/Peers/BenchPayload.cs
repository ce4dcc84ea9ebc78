using System.Diagnostics;

namespace MoltBeat.Bench.Peers;

/// <summary>
/// The benchmark's event payload, the same for every peer: <c>{"due":µs,"sent":µs,"seq":n,"pad":"x…"}</c>,
/// about 220 bytes on the wire once framed. Both are microseconds on the machine's wall clock, so a load
/// generator in another process measures end-to-end latency: <c>sent</c> is when the server's publish
/// call ran, <c>due</c> when the event was scheduled (the same in a burst). Latency from <c>due</c> counts
/// the time a server that is still busy with the previous fan-out makes the next publish wait
/// ("coordinated omission"); latency from <c>sent</c> does not.
/// </summary>
public static class BenchPayload
{
    public const string Room = "bench:room";

    /// <summary>Padding of the standard ~200-byte event.</summary>
    public const int DefaultPad = 120;

    public static long NowMicros() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10;

    public static string Json(int seq, string pad, long due) => $"{{\"due\":{due},\"sent\":{NowMicros()},\"seq\":{seq},\"pad\":\"{pad}\"}}";

    /// <summary>Publishes <paramref name="count"/> events through <paramref name="publish"/>, back to back or at <paramref name="perSecond"/>.</summary>
    public static async Task RunAsync(int count, double perSecond, Action<string> publish, int padLength = DefaultPad)
    {
        var pad = new string('x', padLength);
        var clock = Stopwatch.StartNew();
        var start = NowMicros();
        for (var i = 1; i <= count; i++)
        {
            var dueMicros = perSecond > 0 ? start + (long)((i - 1) * 1_000_000 / perSecond) : NowMicros();
            if (perSecond > 0)
            {
                var due = TimeSpan.FromSeconds((i - 1) / perSecond);
                var wait = due - clock.Elapsed;
                if (wait > TimeSpan.FromMilliseconds(1))
                    await Task.Delay(wait);
            }
            publish(Json(i, pad, dueMicros));
        }
    }
}
