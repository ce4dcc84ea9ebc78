using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MoltBeat.WebSocket.Redis.Tests.Infrastructure;

/// <summary>
/// A real <c>redis-server</c> on a free loopback port, without persistence, owned by the test process:
/// it can be killed and started again on the same port to simulate an outage that loses all data.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private static readonly Lazy<Task<RedisServer>> SharedServer = new(StartSharedAsync);
    private Process? _process;

    private RedisServer(int port) => Port = port;

    public int Port { get; }

    public string Configuration => $"127.0.0.1:{Port},connectTimeout=2000";

    /// <summary>One server for every test of this process (tests use distinct key prefixes), stopped when the process exits.</summary>
    public static Task<RedisServer> Shared => SharedServer.Value;

    public static async Task<RedisServer> StartAsync()
    {
        var server = new RedisServer(FreePort());
        await server.StartProcessAsync();
        return server;
    }

    /// <summary>Kills the server at once, as a crash would (SIGKILL).</summary>
    public void Kill()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            process.WaitForExit(5000);
        }
        _process?.Dispose();
        _process = null;
    }

    /// <summary>Starts the server again on the same port, empty.</summary>
    public Task RestartAsync() => StartProcessAsync();

    public ValueTask DisposeAsync()
    {
        Kill();
        return ValueTask.CompletedTask;
    }

    private static async Task<RedisServer> StartSharedAsync()
    {
        var server = await StartAsync();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.Kill();
        return server;
    }

    private async Task StartProcessAsync()
    {
        var info = new ProcessStartInfo("redis-server")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning", "--dir", Path.GetTempPath() })
            info.ArgumentList.Add(arg);
        _process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start (apt-get install -y redis-server).");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            if (await PingAsync())
                return;
            if (_process.HasExited || DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"redis-server on port {Port} did not answer PING.");
            await Task.Delay(20);
        }
    }

    private async Task<bool> PingAsync()
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, Port, cts.Token);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), cts.Token);
            var buffer = new byte[16];
            var read = await stream.ReadAsync(buffer, cts.Token);
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
