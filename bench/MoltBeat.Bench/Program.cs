using System.Globalization;
using MoltBeat.Bench.Harness;
using MoltBeat.Bench.Peers;

// MoltBeat's benchmark: the same scenarios and load generator against MoltBeat and its peers
// (naive Kestrel SendAsync, ASP.NET Core SignalR, Node ws), each peer in its own process on loopback.
//   dotnet run -c Release --project bench/MoltBeat.Bench -- all [--quick] [--runs N] [--peers moltbeat,naive,signalr,node-ws]
//       [--mode loop,awaited,http,redis] [--only fanout-burst,fanout-steady,conflation,redis-throughput,compression,...]
//   dotnet run -c Release --project bench/MoltBeat.Bench -- serve PEER PORT [REDIS]      (used by the harness)
if (args.Length >= 3 && args[0] == "serve")
    return await PeerHost.ServeAsync(args[1], int.Parse(args[2], CultureInfo.InvariantCulture), args.Length > 3 ? args[3] : null);

// The load generator's socket continuations run inline on the socket engine's thread instead of hopping to
// the thread pool: each one only counts events, and the CPU it saves is left to the server being measured.
// (Read once, when the first socket is used; peer processes get it removed, see PeerProcess.)
Environment.SetEnvironmentVariable(PeerProcess.InlineCompletions, "1");

// A load generator process of the harness (LoadProcess): clients PEER URI COUNT.
if (args.Length >= 4 && args[0] == "clients")
    return await LoadProcess.ServeAsync(args[1], new Uri(args[2]), int.Parse(args[3], CultureInfo.InvariantCulture));

// Diagnostics: hold N idle subscribed connections on a peer for a while, to inspect it (dotnet-gcdump PID).
if (args.Length >= 4 && args[0] == "hold")
{
    // moltbeat-server, the server application, is published to over HTTP only.
    await using var served = args[1] == "moltbeat-server"
        ? await ServedPeer.StartAsync("moltbeat", PublishModes.Http, FindRepoRoot())
        : await ServedPeer.StartAsync(args[1], PublishModes.Loop, FindRepoRoot());
    var held = served.Server;
    await using var idle = await LoadClients.ConnectAsync(args[1], held.WsUri, int.Parse(args[2], CultureInfo.InvariantCulture), recordLatency: false);
    await served.PublishAsync(1, 0, TimeSpan.FromSeconds(30));
    await idle.WaitForAsync(1, TimeSpan.FromSeconds(30));
    await held.CollectGarbageAsync();
    Console.WriteLine($"peer pid {held.ProcessId}, {idle.Count} idle connections; holding {args[3]} s");
    await Task.Delay(TimeSpan.FromSeconds(int.Parse(args[3], CultureInfo.InvariantCulture)));
    return 0;
}

var quick = args.Contains("--quick");
var runs = Option("--runs") is { } r ? int.Parse(r, CultureInfo.InvariantCulture) : quick ? 1 : 3;
var peers = (Option("--peers") ?? (quick ? "moltbeat,naive" : "moltbeat,naive,signalr,node-ws")).Split(',');
var root = FindRepoRoot();
if (peers.Contains("node-ws") && !File.Exists(Path.Combine(root, "bench/peers/node-ws/node_modules/ws/package.json")))
    throw new InvalidOperationException("Node peer not installed: run `npm ci --prefix bench/peers/node-ws` first.");

// The publish modes (see PublishModes) the fan-out scenarios run in; the others publish only to warm up.
var modes = (Option("--mode") ?? string.Join(',', PublishModes.All)).Split(',');
if (modes.FirstOrDefault(m => !PublishModes.All.Contains(m)) is { } unknown)
    throw new ArgumentException($"unknown publish mode '{unknown}' ({string.Join(", ", PublishModes.All)})");

var scenarios = new List<(string Name, string? Mode, Func<string, Task<List<Measurement>>> Run)>();
void InEveryMode(string name, Func<string, string, Task<List<Measurement>>> run)
{
    foreach (var mode in modes)
        scenarios.Add((name, mode, peer => run(peer, mode)));
}
if (quick)
{
    InEveryMode("fanout-burst", (p, m) => Scenarios.FanoutBurstAsync(p, m, root, 200, 50));
    scenarios.Add(("idle-memory", null, p => Scenarios.IdleMemoryAsync(p, root, 200)));
    scenarios.Add(("reconnect-storm", null, _ => Scenarios.ReconnectStormAsync(root, 200, 20, TimeSpan.FromSeconds(1))));
    scenarios.Add(("max-connections-redis", null, _ => Scenarios.MaxConnectionsOnRedisAsync(root, 3, 100)));
    scenarios.Add(("max-connections-shared-port", null, _ => Scenarios.MaxConnectionsOnRedisAsync(root, 3, 100, sharedPort: true)));
    InEveryMode("conflation", (_, m) => Scenarios.ConflationAsync(m, root, 50, 50, 10, 2000, TimeSpan.FromSeconds(3), lagging: false));
    scenarios.Add(("redis-throughput", null, _ => Scenarios.RedisThroughputAsync(root, 3, 5, [256], TimeSpan.FromSeconds(2), 5000, 20_000)));
    scenarios.Add(("compression", null, _ => Scenarios.CompressionAsync(root, 20, 50, 1)));
}
else
{
    InEveryMode("fanout-burst", (p, m) => Scenarios.FanoutBurstAsync(p, m, root, 1000, 200));
    InEveryMode("fanout-burst", (p, m) => Scenarios.FanoutBurstAsync(p, m, root, 10_000, 200));
    InEveryMode("fanout-steady", (p, m) => Scenarios.FanoutSteadyAsync(p, m, root, 5000, 20, TimeSpan.FromSeconds(10)));
    InEveryMode("fanout-steady", (p, m) => Scenarios.FanoutSteadyAsync(p, m, root, 1000, 100, TimeSpan.FromSeconds(10)));
    InEveryMode("fanout-steady", (p, m) => Scenarios.FanoutSteadyAsync(p, m, root, 10_000, 100, TimeSpan.FromSeconds(10)));
    scenarios.Add(("idle-memory", null, p => Scenarios.IdleMemoryAsync(p, root, 10_000)));
    InEveryMode("slow-consumer", (p, m) => Scenarios.SlowConsumerAsync(p, m, root, 1000, 100, TimeSpan.FromSeconds(10)));
    scenarios.Add(("reconnect-storm", null, _ => Scenarios.ReconnectStormAsync(root, 10_000, 20, TimeSpan.FromSeconds(3))));
    scenarios.Add(("max-connections", null, p => Scenarios.MaxConnectionsAsync(p, root, 19_800)));
    scenarios.Add(("max-connections-redis", null, _ => Scenarios.MaxConnectionsOnRedisAsync(root, 3, 19_800)));
    // Issue 21: past one process's open-file limit (20 000 here) on one port. The kernel spreads connections by a hash,
    // not evenly: 19 000 a node on average leaves each room for a few hundred more than its share.
    scenarios.Add(("max-connections-shared-port", null, _ => Scenarios.MaxConnectionsOnRedisAsync(root, 3, 19_000, sharedPort: true)));
    // Issue 18's figures: 1 000 subscribers at maxRate 10 beside 1 000 without, 2 000 keyed events/s, which asks
    // 3 M deliveries/s of this machine's two cores (server and load generator); and beside 100 without, which fits.
    InEveryMode("conflation", (_, m) => Scenarios.ConflationAsync(m, root, 1000, 1000, 10, 2000, TimeSpan.FromSeconds(20), lagging: true));
    InEveryMode("conflation", (_, m) => Scenarios.ConflationAsync(m, root, 1000, 100, 10, 2000, TimeSpan.FromSeconds(20), lagging: true));
    // Issue 19's figures: 3 nodes on one Redis publishing as fast as they can (256 and 1 000 in flight each), at
    // 5 000/s in all, and Redis' own ceiling for the same script beside them.
    scenarios.Add(("redis-throughput", null, _ => Scenarios.RedisThroughputAsync(root, 3, 20, [256, 1000], TimeSpan.FromSeconds(10), 5000, 200_000)));
    // Issue 21's figures: permessage-deflate with Node ws subscribers, with and without, alternated in one run.
    scenarios.Add(("compression", null, _ => Scenarios.CompressionAsync(root, 200, 1000, 3)));
}
if (Option("--only") is { } only)
    scenarios = [.. scenarios.Where(s => only.Split(',').Contains(s.Name))];

var all = new List<Measurement>();
var failures = 0;
for (var run = 1; run <= runs; run++)
{
    foreach (var (name, mode, scenario) in scenarios)
    {
        // Capacity is one figure, not a distribution: max-connections runs once (it takes minutes per peer).
        if (name.StartsWith("max-connections", StringComparison.Ordinal) && run > 1)
            continue;
        // Recovery, scale-out through Redis and conflation are MoltBeat's alone here: none of the peers can give a
        // client back the events it missed, none of their adapters has a backplane, and none conflates.
        foreach (var peer in name is "reconnect-storm" or "max-connections-redis" or "conflation" or "redis-throughput" or "compression" ? peers.Where(p => p == "moltbeat") : peers.Where(p => mode is null || PublishModes.Supports(p, mode)))
        {
            try
            {
                var results = await scenario(peer);
                all.AddRange(results);
                Console.WriteLine($"run {run} {peer,-9} " + string.Join("  ", results.Select(m => $"{m.Scenario} {m.Metric} {m.Value:0.##}{m.Note}")));
                failures += results.Count(m => m.Metric is "lost" or "duplicates" && m.Value > 0);
            }
            catch (Exception ex)
            {
                Console.WriteLine($"run {run} {peer,-9} {name} {mode} FAILED: {ex.Message}");
                failures++;
            }
        }
    }
}
Console.WriteLine();
Console.WriteLine(Report.Table(all));
Report.Write(Path.Combine(root, quick ? "bench/results/tmp" : "bench/results"), all);
// --quick is the correctness check test.sh runs: no loss, no duplicate, nothing failed. Never timings.
var moltbeatFailures = all.Count(m => m.Peer == "moltbeat" && m.Metric is "lost" or "duplicates" && m.Value > 0);
Console.WriteLine(failures == 0 ? "benchmark: all scenarios complete, no loss, no duplicates" : $"benchmark: {failures} problem(s), {moltbeatFailures} in moltbeat");
return moltbeatFailures == 0 && !(quick && failures > 0) ? 0 : 1;

string? Option(string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

static string FindRepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "MoltBeat.slnx")))
            return dir.FullName;
    }
    return Directory.GetCurrentDirectory();
}
