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

    /// <summary>
    /// The conflation key of event <paramref name="seq"/> among <paramref name="keys"/> keys, round robin
    /// (<c>k0</c>…), or null when <paramref name="keys"/> is 0: so event <c>seq</c>'s key recurs every
    /// <paramref name="keys"/> events, and a subscriber can tell from one event how old the oldest it replaced was.
    /// </summary>
    public static string? KeyOf(int seq, int keys) => keys > 0 ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"k{seq % keys}") : null;

    /// <summary>
    /// Publishes <paramref name="count"/> events through <paramref name="publish"/> (payload and key, see
    /// <see cref="KeyOf"/>), back to back or at <paramref name="perSecond"/>, each awaited before the next,
    /// until done or <paramref name="stop"/>; returns how long the publish calls took.
    /// </summary>
    public static async Task<PublishCalls> RunAsync(int count, double perSecond, Func<string, string?, ValueTask> publish, int padLength = DefaultPad, int keys = 0, CancellationToken stop = default)
    {
        var calls = new List<double>(count);
        var pad = new string('x', padLength);
        var clock = Stopwatch.StartNew();
        var start = NowMicros();
        for (var i = 1; i <= count && !stop.IsCancellationRequested; i++)
        {
            var dueMicros = perSecond > 0 ? start + (long)((i - 1) * 1_000_000L / perSecond) : NowMicros();
            if (perSecond > 0)
            {
                var due = TimeSpan.FromSeconds((i - 1) / perSecond);
                var wait = due - clock.Elapsed;
                if (wait > TimeSpan.FromMilliseconds(1))
                    await Task.Delay(wait, CancellationToken.None);
            }
            var began = Stopwatch.GetTimestamp();
            await publish(Json(i, pad, dueMicros), KeyOf(i, keys));
            calls.Add(Stopwatch.GetElapsedTime(began).TotalMicroseconds);
        }
        return PublishCalls.Of(calls);
    }
}

/// <summary>
/// How long one round's publish calls took, as the publisher saw them (µs): the call a user's code waits
/// for. <see cref="Count"/> is below the events asked for when the round was stopped at its deadline;
/// <see cref="Failed"/> counts the calls that threw (<c>publish-parallel</c> goes on after one), not in <see cref="Count"/>.
/// </summary>
public sealed record PublishCalls(int Count, double P50, double P99, int Failed = 0)
{
    public static PublishCalls Of(List<double> micros, int failed = 0)
    {
        var sorted = micros.Order().ToArray();
        return new(sorted.Length, Harness.Percentile.Of(sorted, 0.5), Harness.Percentile.Of(sorted, 0.99), failed);
    }

    /// <summary>The peer's answer line: <c>published COUNT P50 P99</c>, and <c>FAILED</c> after them when some failed.</summary>
    public string ToLine() => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"published {Count} {P50:0.#} {P99:0.#}{(Failed > 0 ? $" {Failed}" : "")}");

    /// <summary>Reads <see cref="ToLine"/>'s line back.</summary>
    public static PublishCalls Parse(string line)
    {
        var c = System.Globalization.CultureInfo.InvariantCulture;
        return line.Split(' ') switch
        {
            ["published", var count, var p50, var p99] => new(int.Parse(count, c), double.Parse(p50, c), double.Parse(p99, c)),
            ["published", var count, var p50, var p99, var failed] => new(int.Parse(count, c), double.Parse(p50, c), double.Parse(p99, c), int.Parse(failed, c)),
            _ => throw new FormatException($"publish answered '{line}'"),
        };
    }
}
