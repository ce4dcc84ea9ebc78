using System.Net.Sockets;

namespace MoltBeat.Bench.Harness;

/// <summary>
/// A subscriber that never reads: a <see cref="BenchSocket"/> with a tiny receive buffer that subscribes
/// like the others and then stalls.
/// </summary>
internal sealed class StalledClient : IDisposable
{
    private readonly BenchSocket _socket;

    private StalledClient(BenchSocket socket) => _socket = socket;

    public static async Task<StalledClient> ConnectAsync(Uri ws, IEnumerable<byte[]> subscribe)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return new StalledClient(await BenchSocket.ConnectAsync(ws, subscribe, cts.Token, receiveBufferSize: 4096));
    }

    /// <summary>Whether the server has closed the connection (checked without reading the queued data).</summary>
    public bool ServerClosed => _socket.Socket.Poll(0, SelectMode.SelectRead) && !_socket.Socket.Connected;

    public void Dispose() => _socket.Dispose();
}
