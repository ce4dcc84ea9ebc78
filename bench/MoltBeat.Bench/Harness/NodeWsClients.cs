using System.Diagnostics;
using System.Globalization;

namespace MoltBeat.Bench.Harness;

/// <summary>
/// Subscribers on Node <c>ws</c> in a process of their own (<c>bench/peers/node-ws/clients.mjs</c>), offering
/// permessage-deflate or not: what a Node service or a browser-like client receives, and the bytes it reads.
/// </summary>
internal sealed class NodeWsClients : IAsyncDisposable
{
    private readonly Process _process;

    private NodeWsClients(Process process, string extensions)
    {
        _process = process;
        Extensions = extensions;
    }

    /// <summary>CPU time (user + system) of the clients' process: what receiving (and inflating) cost them.</summary>
    public TimeSpan CpuTime() => PeerProcess.CpuTimeOf(_process.Id);

    /// <summary>What the first client negotiated (<c>-</c>: nothing).</summary>
    public string Extensions { get; }

    /// <summary>Starts <paramref name="count"/> clients of <paramref name="ws"/> subscribed to <paramref name="room"/>.</summary>
    public static async Task<NodeWsClients> StartAsync(string repoRoot, Uri ws, int count, bool deflate, string room)
    {
        var script = Path.Combine(repoRoot, "bench/peers/node-ws/clients.mjs");
        if (!File.Exists(Path.Combine(repoRoot, "bench/peers/node-ws/node_modules/ws/package.json")))
            throw new InvalidOperationException("Node clients not installed: run `npm ci --prefix bench/peers/node-ws` first.");
        var info = new ProcessStartInfo("node", [script, ws.ToString(), count.ToString(CultureInfo.InvariantCulture), deflate ? "1" : "0", room])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start node");
        var ready = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        if (ready?.StartsWith("ready ", StringComparison.Ordinal) != true)
            throw new InvalidOperationException($"node clients did not start: {ready}");
        return new NodeWsClients(process, ready[6..]);
    }

    /// <summary>Waits until the clients have <paramref name="events"/> event messages in all; returns those and the bytes they read.</summary>
    public async Task<(long Events, long Bytes)> WaitForAsync(long events, TimeSpan timeout)
    {
        await _process.StandardInput.WriteLineAsync($"wait {events.ToString(CultureInfo.InvariantCulture)}");
        await _process.StandardInput.FlushAsync();
        var line = await _process.StandardOutput.ReadLineAsync().WaitAsync(timeout)
            ?? throw new InvalidOperationException("node clients ended");
        var parts = line.Split(' ');
        return (long.Parse(parts[1], CultureInfo.InvariantCulture), long.Parse(parts[2], CultureInfo.InvariantCulture));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            _process.Kill(entireProcessTree: true);
        }
        _process.Dispose();
    }
}
