using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.Soak;

/// <summary>The traffic: stable subscribers with a receive loop each, a paced publisher, and churning clients.</summary>
internal sealed class Load(MoltBeatWSServer server, Uri ws, SoakSettings settings) : IAsyncDisposable
{
    private static readonly string[] Rooms = ["analytics:agents", "analytics:posts", "agent:1", "agent:2", "agent:3", "alerts:critical"];
    private readonly List<(ClientWebSocket Socket, Task Loop)> _stable = [];
    private long _delivered;
    private long _churned;
    private long _churnErrors;
    private int _stableDropped;

    public long Delivered => Interlocked.Read(ref _delivered);

    public long Churned => Interlocked.Read(ref _churned);

    public long ChurnErrors => Interlocked.Read(ref _churnErrors);

    public int StableDropped => Volatile.Read(ref _stableDropped);

    public async Task ConnectStableAsync(CancellationToken stop)
    {
        for (var i = 0; i < settings.Stable; i++)
        {
            var socket = await ConnectAsync(batch: true, stop);
            await SendAsync(socket, $"{{\"type\":\"subscribe\",\"room\":\"{Rooms[i % Rooms.Length]}\",\"id\":1}}", stop);
            _stable.Add((socket, ReceiveLoopAsync(socket, stop)));
        }
    }

    /// <summary>Receives (and so answers the server's pings) until the run ends; counts events.</summary>
    private async Task ReceiveLoopAsync(ClientWebSocket socket, CancellationToken stop)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, stop);
                if (result.MessageType == WebSocketMessageType.Close)
                    break;
                var span = buffer.AsSpan(0, result.Count);
                var events = 0;
                for (var at = span.IndexOf("\"event\""u8); at >= 0; at = span.IndexOf("\"event\""u8))
                {
                    events++;
                    span = span[(at + 7)..];
                }
                Interlocked.Add(ref _delivered, events / 2); // "type":"event" and "event":"name"
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return;
        }
        catch (WebSocketException)
        {
        }
        if (!stop.IsCancellationRequested)
            Interlocked.Increment(ref _stableDropped);
    }

    /// <summary>Publishes about EventsPerSecond events of ~200 bytes, in ticks of 10 ms.</summary>
    public async Task PublishAsync(CancellationToken stop)
    {
        var payload = new { id = "agent-123", name = new string('n', 120), status = "active", score = 0.5 };
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
        var carry = 0.0;
        var n = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                carry += settings.EventsPerSecond / 100.0;
                for (; carry >= 1; carry--)
                    server.Broadcast(Rooms[n++ % Rooms.Length], "agent:updated", payload);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Clients that come and go, about ChurnPerSecond a second, dropped each in one of five ways.</summary>
    public async Task ChurnAsync(CancellationToken stop)
    {
        if (settings.ChurnPerSecond == 0)
            return;
        var workers = Math.Clamp(settings.ChurnPerSecond / 10, 1, 16);
        var pause = TimeSpan.FromSeconds(workers / (double)settings.ChurnPerSecond);
        await Task.WhenAll(Enumerable.Range(0, workers).Select(async w =>
        {
            for (var i = w; !stop.IsCancellationRequested; i += workers)
            {
                try
                {
                    await ChurnOnceAsync(i % 5, stop);
                    Interlocked.Increment(ref _churned);
                    await Task.Delay(pause, stop);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex) when (ex is WebSocketException or IOException or SocketException or OperationCanceledException)
                {
                    Interlocked.Increment(ref _churnErrors);
                }
            }
        }));
    }

    private async Task ChurnOnceAsync(int mode, CancellationToken stop)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        switch (mode)
        {
            case 0 or 1: // subscribe, take some events, then close politely (0) or vanish without a close frame (1)
                {
                    using var socket = await ConnectAsync(batch: mode == 0, timeout.Token);
                    await SendAsync(socket, "{\"type\":\"subscribe\",\"room\":\"analytics\",\"id\":1}", timeout.Token);
                    var buffer = new byte[16 * 1024];
                    for (var i = 0; i < 3; i++)
                        await socket.ReceiveAsync(buffer, timeout.Token);
                    if (mode == 0)
                        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", timeout.Token);
                    else
                        socket.Abort();
                    break;
                }
            case 2: // a bad message, then gone
                {
                    using var socket = await ConnectAsync(batch: false, timeout.Token);
                    await SendAsync(socket, "{\"type\":\"\\ud800\"", timeout.Token);
                    socket.Abort();
                    break;
                }
            case 3: // half a handshake, then a reset
            case 4: // a TCP connection, nothing else
                {
                    using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    await tcp.ConnectAsync(new IPEndPoint(IPAddress.Loopback, ws.Port), timeout.Token);
                    if (mode == 3)
                    {
                        await tcp.SendAsync(Encoding.ASCII.GetBytes($"GET {ws.PathAndQuery} HTTP/1.1\r\nHost: {ws.Authority}\r\nUpgrade: web"), timeout.Token);
                        tcp.LingerState = new LingerOption(true, 0);
                    }
                    break;
                }
        }
    }

    private async Task<ClientWebSocket> ConnectAsync(bool batch, CancellationToken token)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        try
        {
            await socket.ConnectAsync(new Uri(ws, batch ? "?batch=1" : "?batch=0"), token);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static Task SendAsync(ClientWebSocket socket, string json, CancellationToken token) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text, true, token);

    public async ValueTask DisposeAsync()
    {
        foreach (var (socket, loop) in _stable)
        {
            await loop.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            socket.Abort();
            socket.Dispose();
        }
    }
}
