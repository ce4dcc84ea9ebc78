using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MoltBeat.WebSocket.Tests.Infrastructure;

/// <summary>
/// A hand-rolled WebSocket client on a raw TCP socket with a tiny receive buffer, for clients that
/// stop reading: the kernel buffers little for it, so the server's own queue bound is what fills.
/// </summary>
public sealed class StalledSocket : IDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;

    private StalledSocket(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
    }

    public static async Task<StalledSocket> ConnectAsync(Uri ws)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(IPAddress.Loopback, ws.Port);
        var client = new StalledSocket(socket);
        var key = Convert.ToBase64String(Guid.NewGuid().ToByteArray());
        var request = $"GET {ws.PathAndQuery} HTTP/1.1\r\nHost: {ws.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n";
        await client._stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        // Read the 101 response headers, byte by byte, up to the blank line.
        var headers = new StringBuilder();
        while (!headers.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
            headers.Append((char)await client.ReadByteAsync());
        Assert.StartsWith("HTTP/1.1 101", headers.ToString());
        return client;
    }

    /// <summary>Sends one masked text frame, as a client must.</summary>
    public async Task SendTextAsync(string text)
    {
        var payload = Encoding.UTF8.GetBytes(text);
        Assert.True(payload.Length < 126);
        var mask = new byte[] { 1, 2, 3, 4 };
        var frame = new byte[2 + 4 + payload.Length];
        frame[0] = 0x81;
        frame[1] = (byte)(0x80 | payload.Length);
        mask.CopyTo(frame, 2);
        for (var i = 0; i < payload.Length; i++)
            frame[6 + i] = (byte)(payload[i] ^ mask[i % 4]);
        await _stream.WriteAsync(frame);
    }

    /// <summary>Reads frames until a close frame; returns its code and how many text frames came before.</summary>
    public async Task<(int Code, int TextFrames)> ReadUntilCloseAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var texts = 0;
        while (true)
        {
            var (opcode, payload) = await ReadFrameAsync(cts.Token);
            switch (opcode)
            {
                case 0x1:
                    texts++;
                    break;
                case 0x8:
                    return (BinaryPrimitives.ReadUInt16BigEndian(payload), texts);
            }
        }
    }

    /// <summary>
    /// Reads text frames until <paramref name="messages"/> messages have come (a batched frame holds several,
    /// split on '\n'); returns them in order and how many frames carried them.
    /// </summary>
    public async Task<(List<string> Messages, int Frames)> ReadMessagesAsync(int messages, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var received = new List<string>();
        var frames = 0;
        while (received.Count < messages)
        {
            var (opcode, payload) = await ReadFrameAsync(cts.Token);
            if (opcode != 0x1)
                continue;
            frames++;
            received.AddRange(Encoding.UTF8.GetString(payload).Split('\n'));
        }
        return (received, frames);
    }

    /// <summary>
    /// Reads text frames until <paramref name="done"/> holds for the messages read so far; fails with a
    /// <see cref="InvalidOperationException"/> naming the close code if the server closes first.
    /// </summary>
    public async Task<List<string>> ReadMessagesUntilAsync(Func<List<string>, bool> done, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var received = new List<string>();
        while (!done(received))
        {
            var (opcode, payload) = await ReadFrameAsync(cts.Token);
            if (opcode == 0x8)
                throw new InvalidOperationException($"closed with {BinaryPrimitives.ReadUInt16BigEndian(payload)} after {received.Count} messages");
            if (opcode == 0x1)
                received.AddRange(Encoding.UTF8.GetString(payload).Split('\n'));
        }
        return received;
    }

    /// <summary>One server frame (unmasked): its opcode and payload.</summary>
    private async Task<(int Opcode, byte[] Payload)> ReadFrameAsync(CancellationToken token)
    {
        var first = await ReadByteAsync(token);
        var second = await ReadByteAsync(token);
        long length = second & 0x7f;
        if (length == 126)
            length = BinaryPrimitives.ReadUInt16BigEndian(await ReadExactlyAsync(2, token));
        else if (length == 127)
            length = (long)BinaryPrimitives.ReadUInt64BigEndian(await ReadExactlyAsync(8, token));
        return (first & 0x0f, await ReadExactlyAsync((int)length, token));
    }

    private async Task<byte> ReadByteAsync(CancellationToken token = default) => (await ReadExactlyAsync(1, token))[0];

    private async Task<byte[]> ReadExactlyAsync(int count, CancellationToken token)
    {
        var buffer = new byte[count];
        await _stream.ReadExactlyAsync(buffer, token);
        return buffer;
    }

    public void Dispose()
    {
        _stream.Dispose();
        _socket.Dispose();
    }
}
