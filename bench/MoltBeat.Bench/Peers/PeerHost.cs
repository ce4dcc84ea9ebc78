using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace MoltBeat.Bench.Peers;

/// <summary>
/// Runs one peer server in this process (<c>MoltBeat.Bench serve PEER PORT</c>) with its WebSocket
/// endpoint on <c>/ws</c> and, for the <c>http</c> publish mode, <c>POST /publish</c> (one event, answered once
/// broadcast). The harness drives it through standard input, one command a line, each answered with one
/// line: <c>publish COUNT RATE PAD MODE DEADLINE KEYS</c> (in-process modes; stops after DEADLINE seconds; KEYS
/// above 0 gives the events conflation keys, see <see cref="BenchPayload.KeyOf"/>) →
/// <c>published N P50 P99</c> (see <see cref="PublishCalls"/>), <c>gc</c> → heap bytes, and for MoltBeat
/// <c>stats</c> → <c>stats CONFLATED SLOW</c> (<see cref="ConflationStats"/>) and
/// <c>publish-parallel COUNT INFLIGHT RATE PAD DEADLINE</c> (awaited publishes, up to INFLIGHT outstanding, at RATE
/// a second or 0 for as fast as they complete, see <see cref="ParallelPublisher"/>) → <c>published N P50 P99 [FAILED]</c>. Closing standard
/// input stops it (gracefully: a MoltBeat server closes its connections with 1001). Each peer's own way of
/// serving and publishing is one small file; <c>moltbeat-server</c> is the real server application.
/// </summary>
public static class PeerHost
{
    /// <summary>Serves <paramref name="peer"/> on <paramref name="port"/>; <paramref name="redis"/> is the Redis of <c>moltbeat-redis</c>.</summary>
    public static async Task<int> ServeAsync(string peer, int port, string? redis)
    {
        Publisher publish;
        Func<Task> stop;
        Func<Task<ConflationStats>>? stats = null;
        if (peer == "moltbeat-server")
        {
            (publish, stop, stats) = await MoltBeatPeer.StartServerAppAsync(port);
        }
        else if (peer is "moltbeat" or "moltbeat-redis" or "moltbeat-redis-reuseport")
        {
            (publish, stop, stats) = await MoltBeatPeer.StartAsync(
                port,
                peer == "moltbeat" ? null : redis ?? throw new ArgumentException(peer + " needs a Redis configuration"),
                reusePort: peer == "moltbeat-redis-reuseport");
        }
        else
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
            builder.WebHost.ConfigureKestrel(k => k.Limits.MaxConcurrentUpgradedConnections = null);
            builder.Logging.ClearProviders();
            publish = peer switch
            {
                "moltbeat-hosted" => MoltBeatPeer.ConfigureHosted(builder),
                "naive" => NaiveKestrelPeer.Configure(builder),
                "signalr" => SignalRPeer.Configure(builder),
                _ => throw new ArgumentException($"unknown peer '{peer}' (moltbeat, moltbeat-hosted, moltbeat-redis, naive, signalr)"),
            };
            var app = builder.Build();
            _ = peer switch
            {
                "moltbeat-hosted" => MoltBeatPeer.MapHosted(app),
                "naive" => NaiveKestrelPeer.Map(app),
                _ => SignalRPeer.Map(app),
            };
            MapPublishEndpoint(app, publish);
            await app.StartAsync();
            stop = () => app.StopAsync();
        }
        Console.WriteLine("ready");
        while (await Console.In.ReadLineAsync() is { } line)
        {
            var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            switch (words.FirstOrDefault())
            {
                case "publish" when words.Length == 7:
                    var c = System.Globalization.CultureInfo.InvariantCulture;
                    using (var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(double.Parse(words[5], c))))
                    {
                        var calls = await BenchPayload.RunAsync(int.Parse(words[1], c), double.Parse(words[2], c), publish.For(words[4]), int.Parse(words[3], c), int.Parse(words[6], c), deadline.Token);
                        Console.WriteLine(calls.ToLine());
                    }
                    break;
                // MoltBeat's in-process peers only: the others' awaitable broadcasts were not written for concurrent callers.
                case "publish-parallel" when words.Length == 6 && peer is "moltbeat" or "moltbeat-redis" or "moltbeat-hosted":
                    var ci = System.Globalization.CultureInfo.InvariantCulture;
                    using (var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(double.Parse(words[5], ci))))
                    {
                        var calls = await ParallelPublisher.RunAsync(int.Parse(words[1], ci), int.Parse(words[2], ci), double.Parse(words[3], ci), publish.Awaited, int.Parse(words[4], ci), deadline.Token);
                        Console.WriteLine(calls.ToLine());
                    }
                    break;
                case "stats" when stats is not null:
                    Console.WriteLine((await stats()).ToLine());
                    break;
                case "gc":
                    // Memory is compared after a full, compacting collection in every peer, so that garbage
                    // left by the connection storm does not count as per-connection memory.
                    GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                    GC.WaitForPendingFinalizers();
                    GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                    if (Environment.GetEnvironmentVariable("BENCH_GC_INFO") == "1")
                        Console.Error.WriteLine(GcInfo());
                    Console.WriteLine(GC.GetTotalMemory(forceFullCollection: false));
                    break;
                default:
                    Console.WriteLine("unknown command");
                    break;
            }
        }
        await stop();
        return 0;
    }

    // Where the process's memory is, after the collection (BENCH_GC_INFO=1): the GC's committed and fragmented
    // bytes beside the live heap, and the process's resident anonymous and file-backed memory.
    private static string GcInfo()
    {
        var info = GC.GetGCMemoryInfo(GCKind.Any);
        var status = File.ReadLines("/proc/self/status").Where(l => l.StartsWith("Rss", StringComparison.Ordinal)).Select(l => string.Join(' ', l.Split(' ', StringSplitOptions.RemoveEmptyEntries)));
        return $"gc-info heap {info.HeapSizeBytes >> 10} KB, committed {info.TotalCommittedBytes >> 10} KB, fragmented {info.FragmentedBytes >> 10} KB, "
            + $"gens {string.Join('/', info.GenerationInfo.ToArray().Select(g => g.SizeAfterBytes >> 10))} KB, pinned objects {info.PinnedObjectsCount}; {string.Join(", ", status)}";
    }

    /// <summary>
    /// <c>POST /publish</c>, the peers' endpoint for the <c>http</c> mode: the body is one event's payload, and
    /// the answer comes once the peer's awaitable broadcast has completed (as a user's endpoint would do it).
    /// </summary>
    private static void MapPublishEndpoint(WebApplication app, Publisher publish) =>
        app.MapPost("/publish", async (HttpRequest request) =>
        {
            using var body = new StreamReader(request.Body);
            await publish.Awaited(await body.ReadToEndAsync(), null);
            return Results.Ok();
        });
}
