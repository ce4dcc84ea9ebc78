using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using MoltBeat.Bench;

// fanout-burst: N subscribers in one room, E events of ~200 B published back to back; measures
// deliveries per second until every subscriber has every event, and checks for loss.
// Usage: dotnet run -c Release --project bench/MoltBeat.Bench -- [subscribers=2000] [events=200] [runs=3]
var subscribers = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 2000;
var events = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 200;
var runs = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 3;
if (subscribers is < 1 or > 9000)
    throw new ArgumentOutOfRangeException(nameof(args), "subscribers: 1-9000 (server and clients share one process's 20 000 open files)");

var peers = new (string Name, Func<Task<IPeer>> Start)[]
{
    ("moltbeat (batch=1)", () => MoltBeatPeer.StartAsync(batch: true)),
    ("moltbeat", () => MoltBeatPeer.StartAsync(batch: false)),
    ("naive Kestrel SendAsync", NaiveKestrelPeer.StartAsync),
};
Console.WriteLine($"fanout-burst: {subscribers} subscribers x {events} events of ~200 B, {runs} runs each, loopback, one process");
var results = new Dictionary<string, List<double>>();
for (var run = 0; run < runs; run++)
{
    foreach (var (name, start) in peers)
    {
        await using var peer = await start();
        var rate = await FanoutBurstAsync(peer, subscribers, events);
        (results.TryGetValue(name, out var list) ? list : results[name] = []).Add(rate);
        Console.WriteLine($"  run {run + 1} {name,-26} {rate,12:N0} deliveries/s");
    }
}
Console.WriteLine();
var best = results.Where(r => !r.Key.StartsWith("moltbeat", StringComparison.Ordinal)).Max(r => Median(r.Value));
foreach (var (name, rates) in results)
    Console.WriteLine($"{name,-26} median {Median(rates),12:N0}/s  min {rates.Min(),12:N0}  max {rates.Max(),12:N0}  ratio to best peer {Median(rates) / best:F2}x");
return 0;

static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

static async Task<double> FanoutBurstAsync(IPeer peer, int subscribers, int events)
{
    var clients = new List<ClientWebSocket>(subscribers);
    var subscribe = Encoding.UTF8.GetBytes(peer.SubscribeMessage);
    for (var i = 0; i < subscribers; i++)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        await socket.ConnectAsync(peer.WsUri, CancellationToken.None);
        await socket.SendAsync(subscribe, WebSocketMessageType.Text, true, CancellationToken.None);
        clients.Add(socket);
    }
    // Each reader counts "bench" events until it has all of them (batched frames hold several).
    var marker = Encoding.UTF8.GetBytes("\"event\":\"bench\"");
    using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(120));
    var readers = clients.Select(async socket =>
    {
        var buffer = new byte[256 * 1024];
        var seen = 0;
        while (seen < events)
        {
            var r = await socket.ReceiveAsync(buffer, deadline.Token);
            if (r.MessageType == WebSocketMessageType.Close)
                break;
            var span = buffer.AsSpan(0, r.Count);
            for (var at = span.IndexOf(marker); at >= 0; at = NextIndex(span, marker, ref at))
                seen++;
        }
        return seen;
    }).ToArray();
    await Task.Delay(TimeSpan.FromMilliseconds(500 + subscribers / 5)); // joins settle
    var payload = "{\"id\":\"" + new string('x', 120) + "\",\"n\":1,\"name\":\"Agent Smith\",\"status\":\"ACTIVE\"}";
    var clock = Stopwatch.StartNew();
    for (var e = 0; e < events; e++)
        peer.Publish(payload);
    var seenCounts = await Task.WhenAll(readers);
    clock.Stop();
    var delivered = seenCounts.Sum();
    if (delivered != (long)subscribers * events)
        Console.WriteLine($"  LOSS in {peer.Name}: delivered {delivered} of {(long)subscribers * events}");
    foreach (var socket in clients)
        socket.Abort();
    return delivered / clock.Elapsed.TotalSeconds;

    static int NextIndex(Span<byte> span, byte[] marker, ref int at)
    {
        var next = span[(at + marker.Length)..].IndexOf(marker);
        return next < 0 ? -1 : at + marker.Length + next;
    }
}
