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
    private readonly string[] _extraArguments;
    private Process? _process;

    private RedisServer(int port, string[] extraArguments)
    {
        Port = port;
        _extraArguments = extraArguments;
    }

    public int Port { get; }

    public string Configuration => $"127.0.0.1:{Port},connectTimeout=2000";

    /// <summary>One server for every test of this process (tests use distinct key prefixes), stopped when the process exits.</summary>
    public static Task<RedisServer> Shared => SharedServer.Value;

    /// <summary>Starts a server of its own on a free port; <paramref name="extraArguments"/> go on its command line (e.g. <c>--maxmemory</c>).</summary>
    public static async Task<RedisServer> StartAsync(params string[] extraArguments)
    {
        var server = new RedisServer(FreePort(), extraArguments);
        await server.StartProcessAsync();
        return server;
    }

    /// <summary>Starts a replica of <paramref name="primary"/> and waits until it has the primary's data (its link is up).</summary>
    public static async Task<RedisServer> StartReplicaAsync(RedisServer primary)
    {
        ArgumentNullException.ThrowIfNull(primary);
        var replica = await StartAsync("--replicaof", "127.0.0.1", primary.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!(await replica.CommandAsync("INFO", "replication")).Contains("master_link_status:up", StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"The replica on port {replica.Port} did not sync with port {primary.Port}.");
            await Task.Delay(20);
        }
        return replica;
    }

    /// <summary>
    /// Sends one command on a connection of its own (so that it works while other clients are paused, and is never held by
    /// a multiplexer) and returns the reply: a status, an integer or a bulk string as text.
    /// </summary>
    /// <exception cref="RedisReplyException">Redis answered an error.</exception>
    public async Task<string> CommandAsync(params string[] args)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Port, cts.Token);
        var stream = client.GetStream();
        var request = new StringBuilder().Append('*').Append(args.Length).Append("\r\n");
        foreach (var arg in args)
            request.Append('$').Append(Encoding.UTF8.GetByteCount(arg)).Append("\r\n").Append(arg).Append("\r\n");
        await stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToString()), cts.Token);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var line = await reader.ReadLineAsync(cts.Token) ?? throw new IOException("Redis closed the connection.");
        switch (line[0])
        {
            case '+':
            case ':':
                return line[1..];
            case '-':
                throw new RedisReplyException(line[1..]);
            case '$':
                {
                    var length = int.Parse(line.AsSpan(1), System.Globalization.CultureInfo.InvariantCulture);
                    if (length < 0)
                        return "";
                    var buffer = new char[length];
                    var read = 0;
                    // Bulk replies here (INFO) are ASCII, so characters and bytes agree.
                    while (read < length)
                        read += await reader.ReadAsync(buffer.AsMemory(read), cts.Token);
                    return new string(buffer);
                }
            default:
                throw new NotSupportedException("Reply type not handled here: " + line);
        }
    }

    /// <summary>
    /// Makes this replica follow a port where nothing listens: it keeps its data and stays a read-only replica, but receives
    /// nothing more from its primary, as a replica cut off from it (or lagging behind it) would.
    /// </summary>
    public Task CutReplicationAsync() =>
        CommandAsync("REPLICAOF", "127.0.0.1", FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Waits until <paramref name="replica"/> has received everything this primary wrote so far.</summary>
    public async Task WaitForReplicaAsync(RedisServer replica)
    {
        ArgumentNullException.ThrowIfNull(replica);
        var written = await InfoFieldAsync("replication", "master_repl_offset");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (long.Parse(await replica.InfoFieldAsync("replication", "slave_repl_offset"), System.Globalization.CultureInfo.InvariantCulture)
            < long.Parse(written, System.Globalization.CultureInfo.InvariantCulture))
        {
            if (DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"The replica on port {replica.Port} did not catch up with port {Port}.");
            await Task.Delay(10);
        }
    }

    /// <summary>A field of <c>INFO</c>, e.g. <c>used_memory</c> in section <c>memory</c>.</summary>
    public async Task<string> InfoFieldAsync(string section, string field)
    {
        var info = await CommandAsync("INFO", section);
        foreach (var line in info.Split("\r\n"))
        {
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return line[(field.Length + 1)..];
        }
        throw new InvalidOperationException($"INFO {section} has no {field}.");
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
        foreach (var arg in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning", "--dir", Path.GetTempPath() }.Concat(_extraArguments))
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

    /// <summary>A free loopback port, for servers the tests start.</summary>
    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>An error reply of Redis to <see cref="RedisServer.CommandAsync"/>.</summary>
public sealed class RedisReplyException(string message) : Exception(message);
