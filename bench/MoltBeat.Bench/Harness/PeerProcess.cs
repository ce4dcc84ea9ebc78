using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace MoltBeat.Bench.Harness;

/// <summary>
/// A peer server in its own process, so that its CPU time and memory are its own: a .NET peer runs
/// this executable with <c>serve</c>, the Node peer runs <c>bench/peers/node-ws/server.mjs</c>.
/// </summary>
internal sealed class PeerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private PeerProcess(string name, Process process, int port)
    {
        Name = name;
        _process = process;
        Port = port;
    }

    /// <summary>The runtime's switch for running socket continuations inline (the load generator sets it, peers must not).</summary>
    public const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    public string Name { get; }

    public int ProcessId => _process.Id;

    public int Port { get; }

    public Uri WsUri => new($"ws://127.0.0.1:{Port}/ws");

    /// <summary>
    /// Starts peer <paramref name="name"/> on <paramref name="port"/> (a free one when null; the same one to
    /// restart a server), passing <paramref name="redis"/> to a peer that runs on Redis.
    /// </summary>
    public static async Task<PeerProcess> StartAsync(string name, string repoRoot, int? port = null, string? redis = null)
    {
        var listen = (port ?? FreePort()).ToString(CultureInfo.InvariantCulture);
        var info = name == "node-ws"
            ? new ProcessStartInfo("node", ["--expose-gc", Path.Combine(repoRoot, "bench/peers/node-ws/server.mjs"), listen])
            : new ProcessStartInfo("dotnet", [typeof(PeerProcess).Assembly.Location, "serve", name, listen, .. redis is null ? Array.Empty<string>() : [redis]]);
        info.RedirectStandardInput = true;
        info.RedirectStandardOutput = true;
        info.UseShellExecute = false;
        info.Environment["DOTNET_gcServer"] = "0";
        if (name == "moltbeat-server")
        {
            // The server application runs inside this executable here: give it the GC its own runtimeconfig ships.
            foreach (var (variable, value) in ShippedGcSettings())
                info.Environment[variable] = value;
        }
        // BENCH_PEER_DOTNET_X=V runs every peer with DOTNET_X=V (GC settings compared on the same peer).
        foreach (var variable in Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(v => v.StartsWith(PeerEnvironmentPrefix, StringComparison.Ordinal)))
            info.Environment[variable[PeerEnvironmentPrefix.Length..]] = Environment.GetEnvironmentVariable(variable);
        info.Environment.Remove(InlineCompletions);
        var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start " + name);
        var ready = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        if (ready != "ready")
            throw new InvalidOperationException($"{name} did not start: {ready}");
        return new PeerProcess(name, process, int.Parse(listen, CultureInfo.InvariantCulture));
    }

    private const string PeerEnvironmentPrefix = "BENCH_PEER_";

    // The GC settings in MoltBeat.Server.runtimeconfig.json (copied beside this executable), as the variables that set them.
    private static IEnumerable<(string Variable, string Value)> ShippedGcSettings()
    {
        var file = Path.Combine(AppContext.BaseDirectory, "MoltBeat.Server.runtimeconfig.json");
        using var config = System.Text.Json.JsonDocument.Parse(File.ReadAllText(file));
        if (!config.RootElement.GetProperty("runtimeOptions").TryGetProperty("configProperties", out var properties))
            yield break;
        foreach (var property in properties.EnumerateObject())
        {
            var variable = property.Name switch
            {
                "System.GC.Server" => "DOTNET_gcServer",
                "System.GC.Concurrent" => "DOTNET_gcConcurrent",
                "System.GC.ConserveMemory" => "DOTNET_GCConserveMemory",
                "System.GC.DynamicAdaptationMode" => "DOTNET_GCDynamicAdaptationMode",
                "System.GC.RetainVM" => "DOTNET_GCRetainVM",
                _ => null,
            };
            if (variable is null)
                continue;
            var value = property.Value.ValueKind switch
            {
                System.Text.Json.JsonValueKind.True => "1",
                System.Text.Json.JsonValueKind.False => "0",
                _ => property.Value.GetRawText(),
            };
            yield return (variable, value);
        }
    }

    /// <summary>Resident memory of the peer process, in bytes (/proc).</summary>
    public long RssBytes()
    {
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }
        return 0;
    }

    /// <summary>CPU time (user + system) the peer process has used.</summary>
    public TimeSpan CpuTime() => CpuTimeOf(_process.Id);

    /// <summary>CPU time (user + system) process <paramref name="pid"/> has used (/proc).</summary>
    public static TimeSpan CpuTimeOf(int pid)
    {
        var fields = File.ReadAllText($"/proc/{pid}/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / 100.0);
    }

    /// <summary>Asks the peer for a full garbage collection; returns its managed (or JS) heap in bytes.</summary>
    public async Task<long> CollectGarbageAsync()
    {
        var heap = await CommandAsync("gc", TimeSpan.FromSeconds(60));
        await Task.Delay(200);
        return long.Parse(heap, CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Has the peer publish <paramref name="count"/> events in-process, back to back (rate 0) or at
    /// <paramref name="rate"/> per second, in publish mode <paramref name="mode"/> (<c>loop</c> or
    /// <c>awaited</c>), keyed round robin over <paramref name="keys"/> conflation keys when above 0; the peer
    /// stops at <paramref name="deadline"/> and says how many it published.
    /// </summary>
    public async Task<Peers.PublishCalls> PublishAsync(int count, double rate, TimeSpan deadline, int pad = Peers.BenchPayload.DefaultPad, string mode = Peers.PublishModes.Loop, int keys = 0)
    {
        var answer = await CommandAsync(string.Create(CultureInfo.InvariantCulture, $"publish {count} {rate} {pad} {mode} {deadline.TotalSeconds:0.###} {keys}"), deadline + TimeSpan.FromSeconds(30));
        try
        {
            return Peers.PublishCalls.Parse(answer);
        }
        catch (FormatException ex)
        {
            throw new InvalidOperationException($"{Name}: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Has a MoltBeat peer publish up to <paramref name="count"/> events with up to <paramref name="inFlight"/>
    /// awaited publishes outstanding, as fast as they complete (rate 0) or at <paramref name="rate"/> per second,
    /// stopping at <paramref name="deadline"/>; says how many it published and how many failed.
    /// </summary>
    public async Task<Peers.PublishCalls> PublishParallelAsync(int count, int inFlight, double rate, TimeSpan deadline, int pad = Peers.BenchPayload.DefaultPad)
    {
        var answer = await CommandAsync(string.Create(CultureInfo.InvariantCulture, $"publish-parallel {count} {inFlight} {rate} {pad} {deadline.TotalSeconds:0.###}"), deadline + TimeSpan.FromSeconds(30));
        try
        {
            return Peers.PublishCalls.Parse(answer);
        }
        catch (FormatException ex)
        {
            throw new InvalidOperationException($"{Name}: {ex.Message}", ex);
        }
    }

    /// <summary>A MoltBeat peer's counts of conflated events and slow-consumer closes.</summary>
    public async Task<Peers.ConflationStats> StatsAsync() => Peers.ConflationStats.Parse(await CommandAsync("stats", TimeSpan.FromSeconds(30)));

    private readonly SemaphoreSlim _commands = new(1, 1);

    private async Task<string> CommandAsync(string command, TimeSpan timeout)
    {
        await _commands.WaitAsync();
        try
        {
            await _process.StandardInput.WriteLineAsync(command);
            await _process.StandardInput.FlushAsync();
            return await _process.StandardOutput.ReadLineAsync().WaitAsync(timeout) ?? throw new InvalidOperationException($"{Name} exited");
        }
        finally
        {
            _commands.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(_process, TimeSpan.FromSeconds(10));
        _commands.Dispose();
    }

    /// <summary>Stops a child of the harness the way it asks to be stopped (standard input closed), killing it after <paramref name="grace"/>.</summary>
    public static async Task StopAsync(Process process, TimeSpan grace)
    {
        try
        {
            process.StandardInput.Close();
            await process.WaitForExitAsync().WaitAsync(grace);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
        }
        process.Dispose();
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
