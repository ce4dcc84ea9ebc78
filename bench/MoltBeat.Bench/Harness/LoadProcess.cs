using System.Diagnostics;
using System.Globalization;

namespace MoltBeat.Bench.Harness;

/// <summary>
/// Load generation beyond one process's open-file limit (20 000 here): a child process of this executable
/// (<c>clients PEER URI COUNT</c>) that connects up to COUNT subscribers, answers <c>connected N</c>, and then,
/// for each <c>expect K</c> line, how many of its subscribers have received K events (<c>have N</c>).
/// </summary>
internal sealed class LoadProcess : IAsyncDisposable
{
    private readonly Process _process;

    private LoadProcess(Process process, int connected)
    {
        _process = process;
        Connected = connected;
    }

    /// <summary>Subscribers the child connected.</summary>
    public int Connected { get; }

    public static async Task<LoadProcess> StartAsync(string peer, Uri ws, int count)
    {
        var info = new ProcessStartInfo("dotnet", [typeof(LoadProcess).Assembly.Location, "clients", peer, ws.ToString(), count.ToString(CultureInfo.InvariantCulture)])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start a load generator process");
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(5));
        if (line?.Split(' ') is not ["connected", var n])
            throw new InvalidOperationException($"load generator process: '{line}'");
        return new LoadProcess(process, int.Parse(n, CultureInfo.InvariantCulture));
    }

    /// <summary>How many of the child's subscribers have <paramref name="events"/> events (it waits up to 5 s for all).</summary>
    public async Task<int> CountWithAsync(int events)
    {
        await _process.StandardInput.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"expect {events}"));
        await _process.StandardInput.FlushAsync();
        var line = await _process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(2));
        return line?.Split(' ') is ["have", var n] ? int.Parse(n, CultureInfo.InvariantCulture) : throw new InvalidOperationException($"load generator process: '{line}'");
    }

    /// <summary>The child side: connects, then answers <c>expect K</c> until its standard input closes.</summary>
    public static async Task<int> ServeAsync(string peer, Uri ws, int count)
    {
        await using var clients = await LoadClients.ConnectAsManyAsAsync(peer, ws, count);
        Console.WriteLine($"connected {clients.Count}");
        while (await Console.In.ReadLineAsync() is { } line)
        {
            if (line.Split(' ') is ["expect", var k] && int.TryParse(k, CultureInfo.InvariantCulture, out var events))
            {
                await clients.WaitForAsync(events, TimeSpan.FromSeconds(5));
                Console.WriteLine($"have {clients.CountWithAtLeast(events)}");
            }
            else
            {
                Console.WriteLine("unknown command");
            }
        }
        return 0;
    }

    public async ValueTask DisposeAsync() => await PeerProcess.StopAsync(_process, TimeSpan.FromSeconds(30));
}
