using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace MoltBeat.Bench.Peers;

/// <summary>
/// Runs one peer server in this process (<c>MoltBeat.Bench serve PEER PORT</c>): its WebSocket endpoint,
/// plus <c>POST /publish?count=N&amp;rate=R</c> that publishes the benchmark events, and <c>GET /ready</c>.
/// Each peer's own way of publishing lives in one small file.
/// </summary>
public static class PeerHost
{
    public static async Task<int> ServeAsync(string peer, int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxConcurrentUpgradedConnections = null);
        builder.Logging.ClearProviders();
        Action<string> publish = peer switch
        {
            "moltbeat" => MoltBeatPeer.Configure(builder),
            "naive" => NaiveKestrelPeer.Configure(builder),
            "signalr" => SignalRPeer.Configure(builder),
            _ => throw new ArgumentException($"unknown peer '{peer}' (moltbeat, naive, signalr)"),
        };
        var app = builder.Build();
        var map = peer switch
        {
            "moltbeat" => MoltBeatPeer.Map(app),
            "naive" => NaiveKestrelPeer.Map(app),
            _ => SignalRPeer.Map(app),
        };
        app.MapGet("/ready", () => "ok");
        // Memory is compared after a full, compacting collection in every peer, so that garbage left by
        // the connection storm does not count as per-connection memory.
        app.MapPost("/gc", () =>
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            return GC.GetTotalMemory(forceFullCollection: false).ToString(System.Globalization.CultureInfo.InvariantCulture);
        });
        app.MapPost("/publish", async (HttpContext ctx) =>
        {
            var count = int.Parse(ctx.Request.Query["count"].FirstOrDefault() ?? "1", System.Globalization.CultureInfo.InvariantCulture);
            var rate = double.Parse(ctx.Request.Query["rate"].FirstOrDefault() ?? "0", System.Globalization.CultureInfo.InvariantCulture);
            await BenchPayload.RunAsync(count, rate, publish);
            return "published";
        });
        _ = map;
        await app.StartAsync();
        Console.WriteLine("ready");
        // The harness ends the peer by closing stdin.
        await Task.Run(() => Console.In.ReadToEnd());
        await app.StopAsync();
        return 0;
    }
}
