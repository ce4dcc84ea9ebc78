using System.Net;
using System.Net.Sockets;

namespace MoltBeat.WebSocket.Tests.Client;

/// <summary>
/// A TCP proxy on loopback between a client and a server, which a test can make misbehave: cut every
/// connection (as a network failure would), refuse new ones, or silently stop forwarding on the existing ones
/// (a half-open connection: nothing is closed, nothing arrives).
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly List<Pair> _pairs = [];
    private readonly Task _acceptLoop;

    private TcpProxy(int targetPort)
    {
        _targetPort = targetPort;
        _listener.Start();
        _acceptLoop = AcceptLoopAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Connections accepted so far (refused ones included).</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    private int _accepted;

    /// <summary>While true, new connections are closed at once (the server looks down).</summary>
    public bool Refusing { get; set; }

    public Uri WsUri(string path = "/ws") => new($"ws://127.0.0.1:{Port}{path}");

    public static TcpProxy Start(int targetPort) => new(targetPort);

    /// <summary>Resets every open connection (RST on both sides).</summary>
    public void KillAll()
    {
        Pair[] pairs;
        lock (_lock)
        {
            pairs = [.. _pairs];
            _pairs.Clear();
        }
        foreach (var pair in pairs)
            pair.Kill();
    }

    /// <summary>Stops forwarding on every open connection, in both directions, without closing anything.</summary>
    public void StallExisting()
    {
        lock (_lock)
        {
            foreach (var pair in _pairs)
                pair.Stalled = true;
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket inbound;
            try
            {
                inbound = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            Interlocked.Increment(ref _accepted);
            if (Refusing)
            {
                Pair.Reset(inbound);
                continue;
            }
            var outbound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await outbound.ConnectAsync(new IPEndPoint(IPAddress.Loopback, _targetPort), _stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
                Pair.Reset(inbound);
                outbound.Dispose();
                continue;
            }
            inbound.NoDelay = true;
            var pair = new Pair(inbound, outbound);
            lock (_lock)
                _pairs.Add(pair);
            _ = pair.PumpAsync(inbound, outbound);
            _ = pair.PumpAsync(outbound, inbound);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        KillAll();
        await _acceptLoop.WaitAsync(TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }

    private sealed class Pair(Socket inbound, Socket outbound)
    {
        private int _closed;

        public volatile bool Stalled;

        public async Task PumpAsync(Socket from, Socket to)
        {
            var buffer = new byte[16 * 1024];
            try
            {
                while (true)
                {
                    var read = await from.ReceiveAsync(buffer, SocketFlags.None);
                    if (read == 0)
                        break;
                    if (Stalled)
                        continue; // a black hole: read and drop, so that neither side notices anything
                    await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }
            // One side closed or broke: close the other (unless stalled, where nothing must pass).
            if (!Stalled)
                Kill();
        }

        public void Kill()
        {
            if (Interlocked.Exchange(ref _closed, 1) != 0)
                return;
            Reset(inbound);
            Reset(outbound);
        }

        public static void Reset(Socket socket)
        {
            try
            {
                socket.LingerState = new LingerOption(true, 0);
                socket.Close();
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }
        }
    }
}
