using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace MoltBeat.Bench.Harness;

/// <summary>
/// A <c>redis-server</c> of the benchmark's own on a free loopback port, without persistence, for the
/// scenarios that run MoltBeat on its Redis engine (history that outlives a server restart).
/// </summary>
internal sealed class RedisProcess : IAsyncDisposable
{
    private readonly Process _process;

    private RedisProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The StackExchange.Redis configuration string MoltBeat's Redis engine takes.</summary>
    public string Configuration => $"127.0.0.1:{Port}";

    public int ProcessId => _process.Id;

    public static async Task<RedisProcess> StartAsync()
    {
        var port = PeerProcess.FreePort();
        var info = new ProcessStartInfo("redis-server") { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (var arg in new[] { "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning", "--dir", Path.GetTempPath() })
            info.ArgumentList.Add(arg);
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("redis-server is not installed (apt-get install -y redis-server; ./test.sh installs it).", ex);
        }
        process.OutputDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        var redis = new RedisProcess(process, port);
        for (var deadline = DateTime.UtcNow.AddSeconds(10); !await redis.AcceptsAsync(); await Task.Delay(20))
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                await redis.DisposeAsync();
                throw new InvalidOperationException($"redis-server on port {port} did not start");
            }
        }
        return redis;
    }

    /// <summary>CPU time (user + system) Redis has used.</summary>
    public TimeSpan CpuTime() => PeerProcess.CpuTimeOf(_process.Id);

    private async Task<bool> AcceptsAsync()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, Port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
            _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
