using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MoltBeat.Bench.Harness;

/// <summary>
/// A subscriber that never reads: a raw TCP socket with a tiny receive buffer that does the WebSocket
/// handshake, sends the peer's subscribe message(s) as masked text frames, and then stalls.
/// </summary>
internal sealed class StalledClient : IDisposable
{
    private readonly Socket _socket;

    private StalledClient(Socket socket) => _socket = socket;

    public static async Task<StalledClient> ConnectAsync(Uri ws, IEnumerable<byte[]> subscribe)
    {
        var socket = LoopbackConnector.Open();
        socket.ReceiveBufferSize = 4096;
        await socket.ConnectAsync(IPAddress.Loopback, ws.Port);
        var key = Convert.ToBase64String(Guid.NewGuid().ToByteArray());
        var request = $"GET {ws.PathAndQuery} HTTP/1.1\r\nHost: {ws.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(request));
        var response = new StringBuilder();
        var one = new byte[1];
        while (!response.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await socket.ReceiveAsync(one) == 1)
            response.Append((char)one[0]);
        if (!response.ToString().StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
            throw new InvalidOperationException("stalled client: handshake refused: " + response);
        foreach (var message in subscribe)
            await socket.SendAsync(MaskedText(message));
        return new StalledClient(socket);
    }

    /// <summary>Whether the server has closed the connection (checked without reading the queued data).</summary>
    public bool ServerClosed => _socket.Poll(0, SelectMode.SelectRead) && !_socket.Connected;

    private static byte[] MaskedText(byte[] payload)
    {
        var mask = new byte[] { 7, 13, 21, 42 };
        var header = payload.Length < 126 ? new byte[] { 0x81, (byte)(0x80 | payload.Length) } : [0x81, 0x80 | 126, (byte)(payload.Length >> 8), (byte)payload.Length];
        var frame = new byte[header.Length + 4 + payload.Length];
        header.CopyTo(frame, 0);
        mask.CopyTo(frame, header.Length);
        for (var i = 0; i < payload.Length; i++)
            frame[header.Length + 4 + i] = (byte)(payload[i] ^ mask[i % 4]);
        return frame;
    }

    public void Dispose() => _socket.Dispose();
}
