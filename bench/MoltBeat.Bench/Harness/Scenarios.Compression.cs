using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Net.Http.Json;
using System.Text.Json;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.Bench.Harness;

internal static partial class Scenarios
{
    /// <summary>Events per HTTP publish call, and per wait for every subscriber to have them (no backlog builds up).</summary>
    private const int CompressionBatch = 10;

    /// <summary>
    /// compression (issue 21): the server application with <c>--compression</c>, <paramref name="subscribers"/> Node
    /// <c>ws</c> clients in one room that offer permessage-deflate or do not (alternately, <paramref name="rounds"/> rounds
    /// each, a fresh room and client process per round), <paramref name="events"/> events published per round through
    /// the HTTP API in batches of <see cref="CompressionBatch"/>, each batch delivered to everyone before the next. Per
    /// delivery: bytes the clients read off their sockets, and the server's CPU time (which includes its share of the
    /// HTTP publish, the same both ways). For the demo feed's events (threshold 0: all compressed, as none reaches the
    /// default 1 KiB) and 2 KB metrics payloads (default threshold). Also, off the server: what one compression of each
    /// event costs at zlib levels 1 and 6.
    /// </summary>
    public static async Task<List<Measurement>> CompressionAsync(string root, int subscribers, int events, int rounds)
    {
        var results = new List<Measurement>();
        (string Name, int Threshold, List<(string Event, JsonElement Data)> Payloads)[] sets =
        [
            ("demo", 0, CompressionPayloads.DemoFeed(500)),
            ("metrics-2k", MoltBeat.WebSocket.Server.WSServerOptions.DefaultCompressionThreshold, CompressionPayloads.Metrics2K(500)),
        ];
        foreach (var (name, threshold, payloads) in sets)
        {
            results.AddRange(CompressorCost(name, payloads));
            await using var server = await AppServerProcess.StartAsync(root, "--compression", "--compression-threshold", threshold.ToString(CultureInfo.InvariantCulture),
                "--history-events", "100", "--max-connections", "10000");
            using var http = new HttpClient { BaseAddress = server.HttpUri, Timeout = TimeSpan.FromSeconds(30) };
            var scenario = $"compression {name} {subscribers} subs";
            // Rounds -2 and -1 warm the fresh server up both ways, as long as a recorded round, and are not recorded:
            // without them the first rounds of a new server paid up to 2-3 s of extra server CPU, less in each round
            // (its first half minute or so: tiered JIT on two busy cores, most likely; not investigated further).
            for (var round = -2; round < rounds; round++)
            {
                // Alternate which goes first, so that a drift in the machine's load does not favour one.
                foreach (var deflate in round % 2 == 0 ? new[] { true, false } : [false, true])
                {
                    var mode = deflate ? "deflate" : "plain";
                    // Two levels, as the demo feed's rooms (agent:7): the event carries its offsets in the room, "bench" and "all".
                    var room = $"bench:{name}-{round}-{mode}";
                    await using var clients = await NodeWsClients.StartAsync(root, server.WsUri, subscribers, deflate, room);
                    if (deflate != clients.Extensions.StartsWith("permessage-deflate", StringComparison.Ordinal))
                        throw new InvalidOperationException($"compression {mode}: the clients negotiated '{clients.Extensions}'");
                    // One batch to warm up (JIT, buffers), not counted.
                    var published = 0;
                    await PublishBatchAsync(http, room, payloads, published, CompressionBatch);
                    published += CompressionBatch;
                    var (events0, bytes0) = await clients.WaitForAsync((long)published * subscribers, TimeSpan.FromSeconds(30));
                    var cpu0 = server.CpuTime();
                    var clientCpu0 = clients.CpuTime();
                    var clock = Stopwatch.StartNew();
                    var until = published + events;
                    while (published < until && clock.Elapsed < TimeSpan.FromSeconds(120))
                    {
                        await PublishBatchAsync(http, room, payloads, published, CompressionBatch);
                        published += CompressionBatch;
                        await clients.WaitForAsync((long)published * subscribers, TimeSpan.FromSeconds(30));
                    }
                    var cpu1 = server.CpuTime();
                    var clientCpu1 = clients.CpuTime();
                    var (events1, bytes1) = await clients.WaitForAsync((long)published * subscribers, TimeSpan.FromSeconds(30));
                    var deliveries = events1 - events0;
                    Console.WriteLine(FormattableString.Invariant($"  {scenario} {(round < 0 ? "warm-up" : $"round {round}")} {mode}: {deliveries} deliveries, {(bytes1 - bytes0) / (double)deliveries:0.0} B and {(cpu1 - cpu0).TotalMicroseconds / deliveries:0.00} µs of server CPU each, {(clientCpu1 - clientCpu0).TotalMicroseconds / deliveries:0.00} µs of the clients', {clock.Elapsed.TotalSeconds:0.0} s"));
                    if (round < 0)
                        continue;
                    results.Add(new(scenario, "moltbeat", $"wire bytes/delivery, {mode}", (bytes1 - bytes0) / (double)deliveries, "B", false));
                    results.Add(new(scenario, "moltbeat", $"server cpu/delivery, {mode}", (cpu1 - cpu0).TotalMicroseconds / deliveries, "µs", false));
                    results.Add(new(scenario, "moltbeat", $"client cpu/delivery, {mode}", (clientCpu1 - clientCpu0).TotalMicroseconds / deliveries, "µs", false));
                    results.Add(new(scenario, "moltbeat", $"deliveries/s, {mode}", deliveries / clock.Elapsed.TotalSeconds, "/s", true));
                }
            }
        }
        return results;
    }

    private static async Task PublishBatchAsync(HttpClient http, string room, List<(string Event, JsonElement Data)> payloads, int from, int count)
    {
        var batch = Enumerable.Range(from, count).Select(i => payloads[i % payloads.Count]).Select(p => new { room, @event = p.Event, data = p.Data }).ToArray();
        using var response = await http.PostAsJsonAsync("api/publish", new { events = batch });
        response.EnsureSuccessStatusCode();
    }

    /// <summary>
    /// One compression of each event's message as the server does it (a fresh raw deflate, sync flush), at zlib levels 1
    /// and 6: the fastest of five passes over the events after one to warm up (the machine is shared: a slower pass was
    /// preempted, not slower).
    /// </summary>
    private static List<Measurement> CompressorCost(string name, List<(string Event, JsonElement Data)> payloads)
    {
        var frames = payloads.Select((p, i) => EventFrame.Build(["bench:demo-0-deflate"], p.Event, JsonSerializer.SerializeToUtf8Bytes(p.Data), 1_796_000_000_000L + i, [new("bench:demo-0-deflate", i + 1), new("bench", i + 1), new("all", i + 1)])).ToList();
        var results = new List<Measurement>
        {
            new($"compression {name} compressor", "moltbeat", "event message", frames.Average(f => f.Length), "B", false),
        };
        foreach (var level in new[] { 1, 6 })
        {
            var options = new ZLibCompressionOptions { CompressionLevel = level };
            long compressed = 0;
            var fastest = double.MaxValue;
            for (var pass = 0; pass < 6; pass++)
            {
                compressed = 0;
                var clock = Stopwatch.StartNew();
                foreach (var frame in frames)
                {
                    using var output = new MemoryStream();
                    using (var deflate = new DeflateStream(output, options, leaveOpen: true))
                    {
                        deflate.Write(frame);
                        deflate.Flush();
                        compressed += output.Length - 4;
                    }
                }
                if (pass > 0)
                    fastest = Math.Min(fastest, clock.Elapsed.TotalMicroseconds / frames.Count);
            }
            results.Add(new($"compression {name} compressor", "moltbeat", $"µs per compression, level {level}", fastest, "µs", false));
            results.Add(new($"compression {name} compressor", "moltbeat", $"compressed, level {level}", compressed / (double)frames.Count, "B", false));
        }
        return results;
    }
}
