using System.Diagnostics;

namespace MoltBeat.Bench.Peers;

/// <summary>
/// Publishing with several publishes outstanding at once, as a busy backend's request handlers do (the
/// <c>publish-parallel</c> command): <see cref="BenchPayload.RunAsync"/> awaits each publish before the next,
/// which measures one publish's round trip, not what a node can push through its engine.
/// </summary>
public static class ParallelPublisher
{
    /// <summary>
    /// Publishes up to <paramref name="count"/> events through <paramref name="publish"/> from
    /// <paramref name="inFlight"/> loops, so that up to that many calls are outstanding, back to back (rate 0) or
    /// on a schedule of <paramref name="perSecond"/>, until done or <paramref name="stop"/>; returns how long the
    /// calls took and how many failed (a failed one is not counted as published).
    /// </summary>
    public static async Task<PublishCalls> RunAsync(int count, int inFlight, double perSecond, Func<string, string?, Task> publish, int padLength, CancellationToken stop)
    {
        var pad = new string('x', padLength);
        var clock = Stopwatch.StartNew();
        var start = BenchPayload.NowMicros();
        var next = 0;
        var failed = 0;
        var perLoop = Enumerable.Range(0, Math.Max(1, inFlight)).Select(_ => new List<double>()).ToArray();
        // Each loop keeps its own samples (no lock on the hot path); the thread pool runs them, not this one.
        await Task.WhenAll(perLoop.Select(calls => Task.Run(() => LoopAsync(calls), CancellationToken.None)));
        return PublishCalls.Of([.. perLoop.SelectMany(c => c)], failed);

        async Task LoopAsync(List<double> calls)
        {
            // Events are numbered in the order loops take them, so on a schedule event i is due at (i - 1) / rate
            // whichever loop sends it: the rate holds while every loop waits on a slow call.
            for (var i = Interlocked.Increment(ref next); i <= count && !stop.IsCancellationRequested; i = Interlocked.Increment(ref next))
            {
                var dueMicros = BenchPayload.NowMicros();
                if (perSecond > 0)
                {
                    dueMicros = start + (long)((i - 1) * 1_000_000L / perSecond);
                    var wait = TimeSpan.FromSeconds((i - 1) / perSecond) - clock.Elapsed;
                    if (wait > TimeSpan.FromMilliseconds(1))
                        await Task.Delay(wait, CancellationToken.None);
                }
                var began = Stopwatch.GetTimestamp();
                try
                {
                    await publish(BenchPayload.Json(i, pad, dueMicros), null);
                    calls.Add(Stopwatch.GetElapsedTime(began).TotalMicroseconds);
                }
                catch (Exception ex)
                {
                    // Counted, not hidden: the harness reports failed publishes beside the published ones.
                    if (Interlocked.Increment(ref failed) == 1)
                        await Console.Error.WriteLineAsync($"publish-parallel: a publish failed: {ex.Message}");
                }
            }
        }
    }
}
