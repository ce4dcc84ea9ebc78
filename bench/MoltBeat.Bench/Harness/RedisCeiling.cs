using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace MoltBeat.Bench.Harness;

/// <summary>
/// Redis' own ceiling for MoltBeat's publish: the very script command a node sent for one event, caught with
/// <c>MONITOR</c> (so it follows the engine's KEYS/ARGV layout as that changes), moved to a key prefix and
/// channel of its own (the nodes' rooms and channel are untouched) and replayed by <c>redis-benchmark</c>
/// against the same <c>redis-server</c>, while three subscribers of that channel stand in for the three nodes
/// (a publish's <c>PUBLISH</c> writes to every subscriber).
/// </summary>
internal sealed partial class RedisCeiling : IAsyncDisposable
{
    /// <summary>The ceiling's key prefix, in place of the nodes' (<see cref="Peers.MoltBeatPeer.RedisKeyPrefix"/>).</summary>
    public const string Prefix = "ceiling";

    private readonly List<RedisWire> _subscribers;
    private readonly List<Task<long>> _draining;
    private readonly CancellationTokenSource _stop = new();

    private RedisCeiling(string[] command, string sentAs, List<RedisWire> subscribers)
    {
        Command = command;
        SentAs = sentAs;
        _subscribers = subscribers;
        _draining = [.. subscribers.Select(s => s.DrainAsync(_stop.Token))];
    }

    /// <summary>What is replayed: <c>EVALSHA sha numkeys keys… args…</c>.</summary>
    public IReadOnlyList<string> Command { get; }

    /// <summary>How the node sent it: <c>EVALSHA</c>, or <c>EVAL</c> with the script's text.</summary>
    public string SentAs { get; }

    /// <summary>The redis-benchmark on the PATH, or null.</summary>
    public static string? FindBenchmark() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "redis-benchmark")).FirstOrDefault(File.Exists);

    /// <summary>
    /// Watches <paramref name="redis"/> while <paramref name="publishOne"/> has a node publish one event to the bench
    /// room, and keeps that publish's script command, moved to <see cref="Prefix"/>; subscribes three drains to its channel.
    /// </summary>
    public static async Task<RedisCeiling> CaptureAsync(RedisProcess redis, Func<Task> publishOne)
    {
        string[] sent;
        await using (var monitor = await RedisWire.ConnectAsync(redis.Port))
        {
            await monitor.CommandAsync("MONITOR");
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            var watching = FindPublishAsync(monitor, timeout.Token);
            await publishOne();
            try
            {
                sent = await watching;
            }
            catch (OperationCanceledException ex)
            {
                throw new InvalidOperationException("MONITOR showed no publish script to the bench room within 15 s", ex);
            }
        }
        var channel = Peers.MoltBeatPeer.RedisKeyPrefix + ":events";
        var nodesTag = "{" + Peers.MoltBeatPeer.RedisKeyPrefix + "}";
        var keys = int.Parse(sent[2], CultureInfo.InvariantCulture);
        var moved = new string[sent.Length];
        moved[0] = "EVALSHA";
        moved[2] = sent[2];
        for (var i = 3; i < sent.Length; i++)
        {
            var isKey = i < 3 + keys;
            // Every key must be under the nodes' prefix, and the channel an argument, or the replay would write to the nodes' rooms or publish to them.
            if (isKey && !sent[i].StartsWith(nodesTag, StringComparison.Ordinal))
                throw new InvalidOperationException($"the publish script's key '{sent[i]}' is not under {nodesTag}: cannot move it aside");
            moved[i] = isKey ? "{" + Prefix + "}" + sent[i][nodesTag.Length..] : sent[i] == channel ? Prefix + ":events" : sent[i];
        }
        if (!moved.Contains(Prefix + ":events"))
            throw new InvalidOperationException($"the publish script's arguments do not name the channel {channel}: cannot move it aside");
        var subscribers = new List<RedisWire>();
        try
        {
            await using var admin = await RedisWire.ConnectAsync(redis.Port);
            // EVAL carries the script itself; the replay uses the script cache, as a node does once it has loaded the script.
            moved[1] = sent[0].Equals("EVAL", StringComparison.OrdinalIgnoreCase) ? (await admin.CommandAsync("SCRIPT", "LOAD", sent[1])).Text! : sent[1];
            for (var i = 0; i < 3; i++)
            {
                var subscriber = await RedisWire.ConnectAsync(redis.Port);
                subscribers.Add(subscriber);
                await subscriber.CommandAsync("SUBSCRIBE", Prefix + ":events");
            }
            // One replay first: an error here would otherwise only show as a benchmark that stops at once.
            await admin.CommandAsync(moved);
            return new RedisCeiling(moved, sent[0].ToUpperInvariant(), subscribers);
        }
        catch
        {
            foreach (var subscriber in subscribers)
                await subscriber.DisposeAsync();
            throw;
        }
    }

    /// <summary>The first script call in <paramref name="monitor"/>'s lines that publishes to the bench room on the nodes' channel, as its words.</summary>
    private static async Task<string[]> FindPublishAsync(RedisWire monitor, CancellationToken cancellationToken)
    {
        var channel = Peers.MoltBeatPeer.RedisKeyPrefix + ":events";
        while (true)
        {
            var line = (await monitor.ReadAsync(cancellationToken)).Text ?? "";
            // 1733280000.123456 [0 127.0.0.1:54321] "EVALSHA" "sha" "6" "{bench}:m:bench:room" ...
            var at = line.IndexOf("] ", StringComparison.Ordinal);
            if (at < 0)
                continue;
            var words = MonitorWords(line[(at + 2)..]);
            if (words.Length > 3 && words[0].ToUpperInvariant() is "EVAL" or "EVALSHA" && words.Contains(channel) && words.Any(w => w.EndsWith(":" + Peers.BenchPayload.Room, StringComparison.Ordinal)))
                return words;
        }
    }

    /// <summary>The quoted words of a <c>MONITOR</c> line, unescaped (Redis writes <c>\" \\ \n \r \t \a \b</c> and <c>\xHH</c>).</summary>
    public static string[] MonitorWords(string text)
    {
        var words = new List<string>();
        var bytes = new List<byte>();
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '"')
                continue;
            bytes.Clear();
            for (i++; i < text.Length && text[i] != '"'; i++)
            {
                if (text[i] != '\\' || i + 1 >= text.Length)
                {
                    bytes.AddRange(Encoding.UTF8.GetBytes(text[i].ToString()));
                    continue;
                }
                var escaped = text[++i];
                if (escaped == 'x' && i + 2 < text.Length)
                {
                    bytes.Add(byte.Parse(text.AsSpan(i + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                    i += 2;
                    continue;
                }
                bytes.Add(escaped switch { 'n' => (byte)'\n', 'r' => (byte)'\r', 't' => (byte)'\t', 'a' => 7, 'b' => 8, _ => (byte)escaped });
            }
            words.Add(Encoding.UTF8.GetString([.. bytes]));
        }
        return [.. words];
    }

    /// <summary>
    /// One redis-benchmark run of <see cref="Command"/>: <paramref name="requests"/> of them from <paramref name="connections"/>
    /// connections, <paramref name="pipeline"/> at a time on each; stopped after <paramref name="timeout"/>.
    /// </summary>
    public async Task<CeilingRun> RunAsync(string benchmark, RedisProcess redis, int connections, int pipeline, int requests, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(benchmark) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-h", "127.0.0.1", "-p", redis.Port.ToString(CultureInfo.InvariantCulture), "-c", connections.ToString(CultureInfo.InvariantCulture), "-n", requests.ToString(CultureInfo.InvariantCulture), "-P", pipeline.ToString(CultureInfo.InvariantCulture), "--csv" }.Concat(Command))
            info.ArgumentList.Add(arg);
        var before = await ScriptStats.ReadAsync(redis);
        var cpuBefore = redis.CpuTime();
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(info) ?? throw new InvalidOperationException("redis-benchmark did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
        var wall = clock.Elapsed;
        var cpu = redis.CpuTime() - cpuBefore;
        var scripts = await ScriptStats.ReadAsync(redis) - before;
        var (stdout, stderr) = (await output, await errors);
        var csv = CsvRow().Match(stdout);
        if (!csv.Success)
            return new(double.NaN, double.NaN, wall, cpu, scripts, $"redis-benchmark gave no figure (exit {process.ExitCode}): {stderr.Trim()} {stdout.Trim()}".Trim());
        double Field(int i) => double.Parse(csv.Groups[i].Value, CultureInfo.InvariantCulture);
        // Every request must have run the script without error (the nodes' own heartbeat scripts add a few calls).
        var note = scripts.Failed > 0 || scripts.Calls < requests ? $"{scripts.Calls} script calls of {requests}, {scripts.Failed} failed" : "";
        return new(Field(1), Field(6), wall, cpu, scripts, note);
    }

    // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    [GeneratedRegex("\"([0-9.]+)\",\"([0-9.]+)\",\"([0-9.]+)\",\"([0-9.]+)\",\"([0-9.]+)\",\"([0-9.]+)\",\"([0-9.]+)\"\\s*$")]
    private static partial Regex CsvRow();

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        foreach (var subscriber in _subscribers)
            await subscriber.DisposeAsync();
        await Task.WhenAll(_draining);
        _stop.Dispose();
    }
}

/// <summary>One ceiling run: scripts/s and p99 (ms) as redis-benchmark saw them, how long it took, Redis' CPU and script counters over it.</summary>
internal sealed record CeilingRun(double PerSecond, double P99Ms, TimeSpan Wall, TimeSpan RedisCpu, ScriptStats Scripts, string Note)
{
    /// <summary>The run's figures, named after <paramref name="how"/> (e.g. "pipelined 32").</summary>
    public List<Measurement> Figures(string name, string peer, string how, string note) =>
    [
        new(name, peer, $"scripts/s, 50 connections, {how}", PerSecond, "/s", true, $"{note} {Note}".Trim()),
        new(name, peer, $"p99, {how}", P99Ms, "ms", false),
        new(name, peer, $"Redis CPU while running, {how}", 100 * RedisCpu / Wall, "% of a core", false),
        new(name, peer, $"Redis CPU per script, {how}", RedisCpu.TotalMicroseconds / Math.Max(1, Scripts.Calls), "µs", false),
        // Derived, not measured: where the ceiling would be if Redis had had a core to itself (on a shared machine it may not).
        new(name, peer, $"scripts/s a whole core would run, {how}", Scripts.Calls / Math.Max(1e-9, RedisCpu.TotalSeconds), "/s", true, "1 s / Redis CPU per script"),
        new(name, peer, $"Redis time in each script call, {how}", Scripts.Micros / (double)Math.Max(1, Scripts.Calls), "µs", false, ScriptStats.TimeNote),
    ];
}

/// <summary>Redis' own counts of script calls (<c>INFO commandstats</c>, EVAL and EVALSHA together): calls, failed calls, and µs spent in them.</summary>
internal sealed record ScriptStats(long Calls, long Failed, long Micros)
{
    public static async Task<ScriptStats> ReadAsync(RedisProcess redis)
    {
        await using var wire = await RedisWire.ConnectAsync(redis.Port);
        var info = (await wire.CommandAsync("INFO", "commandstats")).Text ?? "";
        long calls = 0, failed = 0, micros = 0;
        // cmdstat_evalsha:calls=12,usec=345,usec_per_call=28.75,rejected_calls=0,failed_calls=0
        foreach (var line in info.Split("\r\n").Where(l => l.StartsWith("cmdstat_eval:", StringComparison.Ordinal) || l.StartsWith("cmdstat_evalsha:", StringComparison.Ordinal)))
        {
            var fields = line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Split(',').Select(f => f.Split('=')).ToDictionary(f => f[0], f => f[1]);
            calls += long.Parse(fields["calls"], CultureInfo.InvariantCulture);
            micros += long.Parse(fields["usec"], CultureInfo.InvariantCulture);
            failed += long.Parse(fields.GetValueOrDefault("failed_calls", "0"), CultureInfo.InvariantCulture) + long.Parse(fields.GetValueOrDefault("rejected_calls", "0"), CultureInfo.InvariantCulture);
        }
        return new(calls, failed, micros);
    }

    /// <summary>What the time in a script call is: Redis' clock around it, which also runs while Redis waits for a core.</summary>
    public const string TimeNote = "INFO commandstats: wall time, longer than CPU time when Redis waits for a core";

    public static ScriptStats operator -(ScriptStats a, ScriptStats b) => new(a.Calls - b.Calls, a.Failed - b.Failed, a.Micros - b.Micros);
}
