using System.Diagnostics;
using System.Globalization;
using MoltBeat.Soak;
using MoltBeat.WebSocket.Server;

// A bounded soak run: a MoltBeat server on loopback (in this process) with stable subscribers receiving a
// steady event flow while other clients connect and drop in a loop, in every way a client can drop.
// Every interval it prints the process's RSS, managed heap, GC counts, threads and open handles, and at
// the end a verdict: are they flat after warm-up? Not part of the test suite.
// Usage: dotnet run -c Release --project bench/MoltBeat.Soak -- [--minutes 10] [--interval 30] [--stable 200]
//        [--events 500] [--churn 40]
var settings = SoakSettings.Parse(args);
Console.WriteLine($"soak: {settings.Minutes} min, sample every {settings.Interval.TotalSeconds:N0} s, warm-up {settings.WarmUp.TotalSeconds:N0} s; " +
    $"{settings.Stable} stable subscribers, {settings.EventsPerSecond} events/s, ~{settings.ChurnPerSecond} connections/s churned; loopback, one process");

var options = new WSServerOptions { Port = 0, Host = "127.0.0.1", HeartbeatInterval = TimeSpan.FromSeconds(10), CloseTimeout = TimeSpan.FromSeconds(2) };
await using var server = new MoltBeatWSServer(options);
await server.StartAsync();
var ws = new Uri($"ws://{server.Urls[0].Authority}/ws");

using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(settings.Minutes));
var load = new Load(server, ws, settings);
await load.ConnectStableAsync(stop.Token);
var running = new[] { load.PublishAsync(stop.Token), load.ChurnAsync(stop.Token) };

var samples = new List<Sample>();
var clock = Stopwatch.StartNew();
Console.WriteLine(Sample.Header);
using (var timer = new PeriodicTimer(settings.Interval))
{
    try
    {
        while (await timer.WaitForNextTickAsync(stop.Token))
        {
            var sample = Sample.Take(clock.Elapsed, server, load);
            samples.Add(sample);
            Console.WriteLine(sample);
        }
    }
    catch (OperationCanceledException)
    {
    }
}
await Task.WhenAll(running);
await load.DisposeAsync();
await server.CloseAsync();
Console.WriteLine();
Console.WriteLine($"delivered {load.Delivered:N0} events to stable subscribers, {load.Churned:N0} connections churned ({load.ChurnErrors:N0} failed attempts), {load.StableDropped} stable subscribers dropped");
var verdict = Verdict.Judge(samples, settings.WarmUp);
foreach (var line in verdict.Lines)
    Console.WriteLine(line);
Console.WriteLine(verdict.Flat ? "VERDICT: flat after warm-up" : "VERDICT: NOT flat after warm-up");
return verdict.Flat && load.StableDropped == 0 ? 0 : 1;

namespace MoltBeat.Soak
{
    internal sealed record SoakSettings(double Minutes, TimeSpan Interval, int Stable, int EventsPerSecond, int ChurnPerSecond)
    {
        public TimeSpan WarmUp => TimeSpan.FromMinutes(Math.Min(2, Minutes / 3));

        public static SoakSettings Parse(string[] args)
        {
            double Get(string name, double fallback)
            {
                var i = Array.IndexOf(args, "--" + name);
                return i >= 0 && i + 1 < args.Length ? double.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
            }
            var settings = new SoakSettings(Get("minutes", 10), TimeSpan.FromSeconds(Get("interval", 30)), (int)Get("stable", 200), (int)Get("events", 500), (int)Get("churn", 40));
            if (settings.Minutes is <= 0 or > 24 * 60 || settings.Interval < TimeSpan.FromSeconds(1) || settings.Stable is < 1 or > 5000 || settings.EventsPerSecond is < 1 or > 100_000 || settings.ChurnPerSecond is < 0 or > 1000)
                throw new ArgumentException("out of range: --minutes 0-1440, --interval >= 1, --stable 1-5000, --events 1-100000, --churn 0-1000");
            return settings;
        }
    }
}
