using System.Diagnostics;

namespace MoltBeat.Bench.Harness;

/// <summary>The conflation scenario (MoltBeat only: no peer conflates, or lets a subscriber choose its rate).</summary>
internal static partial class Scenarios
{
    private const int ConflationKeys = 100;

    /// <summary>
    /// conflation: <paramref name="limited"/> subscribers with <c>maxRate</c> <paramref name="maxRate"/> and
    /// <paramref name="unlimited"/> without watch one room fed <paramref name="perSecond"/> keyed events a second
    /// (round robin over 100 keys) for <paramref name="duration"/>, in publish <paramref name="mode"/>. The
    /// rate-limited ones must see each key at most maxRate times a second and every key's newest value soon after
    /// its publish, with every event accounted for (received, or counted in a later one's <c>conflated</c>); the
    /// others must get every event. When <paramref name="lagging"/> is set, a subscriber that reads at a tenth of
    /// the feed's speed watches too, and then another, alone, during as long a feed without keys: the first should
    /// stay connected (conflated under lag), the second is closed with 4009 as every lagging client was before.
    /// </summary>
    public static async Task<List<Measurement>> ConflationAsync(string mode, string root, int limited, int unlimited, int maxRate, double perSecond, TimeSpan duration, bool lagging)
    {
        var name = $"conflation {limited} maxRate {maxRate} + {unlimited} x {perSecond}/s over {ConflationKeys} keys [{mode}]";
        const string peer = "moltbeat";
        await using var served = await ServedPeer.StartAsync(peer, mode, root);
        var server = served.Server;
        var slow = await ConflationClients.ConnectAsync(server.WsUri, limited, maxRate, ConflationKeys, perSecond);
        var fast = await ConflationClients.ConnectAsync(server.WsUri, unlimited, null, ConflationKeys, perSecond);
        ConflationClients[] groups = [slow, fast];
        try
        {
            return await MeasureAsync();
        }
        finally
        {
            foreach (var group in groups)
                await group.DisposeAsync();
        }

        async Task<List<Measurement>> MeasureAsync()
        {
            await WarmUpAsync(served, groups);

            // Two seconds at the rate, not measured (JIT, pools); they also tell how big an event is on the wire.
            var warm = (int)(perSecond * 2);
            await served.PublishAsync(warm, perSecond, TimeSpan.FromSeconds(60), keys: ConflationKeys);
            await WaitAllAsync(groups, warm, TimeSpan.FromSeconds(30));
            var bytesPerEvent = fast.Bytes / (double)Math.Max(1, fast.Received);
            foreach (var group in groups)
                group.ResetCounts();

            var tenth = lagging ? await LaggingClient.ConnectAsync(server.WsUri, perSecond * bytesPerEvent / 10) : null;
            var statsBefore = await server.StatsAsync();
            var events = (int)(perSecond * duration.TotalSeconds);
            var cpuBefore = server.CpuTime();
            var clock = Stopwatch.StartNew();
            var calls = await served.PublishAsync(events, perSecond, duration * 2, keys: ConflationKeys);
            var published = clock.Elapsed;
            var complete = await WaitAllAsync(groups, calls.Count, TimeSpan.FromSeconds(15));
            var cpu = server.CpuTime() - cpuBefore;
            var stats = await server.StatsAsync();
            var note = complete && calls.Count == events ? "" : $"incomplete: {calls.Count}/{events} published, {slow.MinAccounted()} and {fast.MinAccounted()} accounted for";
            var seconds = published.TotalSeconds;
            List<Measurement> results =
            [
                new(name, peer, "feed published", calls.Count / seconds, "events/s", true),
                new(name, peer, "rate-limited: releases (frames) per second per subscriber", slow.Frames / (double)slow.Count / seconds, "/s", false, note),
                new(name, peer, "rate-limited: events of one key per second", slow.Received / (double)slow.Count / ConflationKeys / seconds, "/s", false),
                new(name, peer, $"rate-limited: shortest span of {maxRate + 1} arrivals of one key", slow.ShortestSpanMs, "ms", true),
                new(name, peer, "rate-limited: staleness p50", slow.Staleness.Percentile(0.5), "ms", false),
                new(name, peer, "rate-limited: staleness p99", slow.Staleness.Percentile(0.99), "ms", false),
                new(name, peer, "rate-limited: staleness max", slow.Staleness.MaxMs, "ms", false),
                new(name, peer, "rate-limited: newest value within 200 ms", 100 * slow.Staleness.FractionWithin(200), "%", true),
                new(name, peer, "rate-limited: conflated per received event", slow.Conflated / (double)Math.Max(1, slow.Received), "", true),
                new(name, peer, "unlimited: deliveries/s", fast.Received / clock.Elapsed.TotalSeconds, "/s", true, note),
                new(name, peer, "unlimited: conflated", fast.Conflated, "events", false),
                new(name, peer, "unlimited: p99 latency", fast.Staleness.Percentile(0.99), "ms", false),
                new(name, peer, "lost", Math.Max(0, calls.Count - Math.Min(slow.MinAccounted(), fast.MinAccounted())), "events", false),
                new(name, peer, "duplicates", Math.Max(0, Math.Max(slow.MaxAccounted(), fast.MaxAccounted()) - calls.Count), "events", false),
                new(name, peer, "offsets out of order", slow.OutOfOrder + fast.OutOfOrder, "events", false),
                new(name, peer, "server CPU per published event", cpu.TotalMicroseconds / Math.Max(1, calls.Count), "µs", false),
                new(name, peer, "publish call p99", calls.P99, "µs", false),
            ];
            if (tenth is null)
                return results;

            // What the server conflated beyond what the other subscribers received as "conflated" was the lagging
            // reader's: conflated under lag while it waited behind what the kernel buffers for it (megabytes on
            // loopback), so that reader itself sees little of it within the run.
            var conflatedForIt = stats.ConflatedEvents - statsBefore.ConflatedEvents - slow.Conflated - fast.Conflated;
            results.Add(new(name, peer, "lagging reader (10 %), keyed feed: close code", tenth.CloseCode ?? -1, "(-1: still open)", false, tenth.ToString()));
            results.Add(new(name, peer, "lagging reader (10 %), keyed feed: events conflated for it", conflatedForIt, "events", true));
            results.Add(new(name, peer, "lagging reader (10 %), keyed feed: slow-consumer closes", stats.SlowConsumerDisconnects - statsBefore.SlowConsumerDisconnects, "", false));
            await tenth.DisposeAsync();

            // The same feed without keys, as every feed was before conflation, to a lagging reader alone (the others
            // leave first: unkeyed, the rate-limited ones get every event too, more than this machine delivers):
            // nothing may be dropped, so its queue reaches the bound.
            foreach (var group in groups)
                await group.DisposeAsync();
            groups = [];
            await using var unkeyed = await LaggingClient.ConnectAsync(server.WsUri, perSecond * bytesPerEvent / 10);
            await served.PublishAsync(events, perSecond, duration * 2);
            var after = await server.StatsAsync();
            // The server's 4009 close frame waits behind the same megabytes: the reader usually sees the connection
            // end first (close code 0), which the server's count of slow-consumer closes tells apart from a crash.
            results.Add(new(name, peer, "lagging reader (10 %), unkeyed feed: close code", await unkeyed.WaitClosedAsync(TimeSpan.FromSeconds(5)) ?? -1, "(-1: still open)", true, unkeyed.ToString()));
            results.Add(new(name, peer, "lagging reader (10 %), unkeyed feed: slow-consumer closes", after.SlowConsumerDisconnects - stats.SlowConsumerDisconnects, "", true));
            return results;
        }
    }

    private static async Task<bool> WaitAllAsync(ConflationClients[] groups, long events, TimeSpan timeout)
    {
        var all = true;
        foreach (var group in groups)
            all &= await group.WaitForAsync(events, timeout);
        return all;
    }

    /// <summary>One event to everybody, until every subscription is in place; counts reset.</summary>
    private static async Task WarmUpAsync(ServedPeer server, ConflationClients[] groups)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            await server.PublishAsync(1, 0, TimeSpan.FromSeconds(30), keys: ConflationKeys);
            var joined = await WaitAllAsync(groups, 1, TimeSpan.FromMilliseconds(500 + groups.Sum(g => g.Count) / 10));
            foreach (var group in groups)
                group.ResetCounts();
            if (joined)
                return;
        }
        throw new InvalidOperationException("conflation: subscribers never all joined");
    }
}
