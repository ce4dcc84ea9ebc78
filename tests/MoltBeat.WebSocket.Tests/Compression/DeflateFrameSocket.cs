using System.Buffers.Binary;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MoltBeat.WebSocket.Tests.Hardening;

namespace MoltBeat.WebSocket.Tests.Compression;

/// <summary>One frame from the server as it was on the wire: its first header byte and its payload.</summary>
public sealed record WireFrame(byte First, byte[] Payload)
{
    public int Opcode => First & 0x0f;

    /// <summary>RSV1: the payload is compressed (permessage-deflate).</summary>
    public bool Compressed => (First & 0x40) != 0;

    /// <summary>The message's text: inflated when <see cref="Compressed"/>.</summary>
    public string Text => Encoding.UTF8.GetString(Compressed ? DeflateWire.Inflate(Payload) : Payload);
}

/// <summary>permessage-deflate's framing of a payload, done independently of the server's code (System.IO.Compression).</summary>
public static class DeflateWire
{
    /// <summary>Inflates a message payload as RFC 7692 §7.2.2 says: append 00 00 FF FF and inflate raw DEFLATE.</summary>
    public static byte[] Inflate(byte[] payload)
    {
        using var input = new MemoryStream([.. payload, 0x00, 0x00, 0xFF, 0xFF]);
        using var inflate = new DeflateStream(input, CompressionMode.Decompress);
        using var output = new MemoryStream();
        inflate.CopyTo(output);
        return output.ToArray();
    }

    /// <summary>Compresses a message as a client would: raw DEFLATE, sync flush, trailing 00 00 FF FF removed.</summary>
    public static byte[] Deflate(string text)
    {
        using var output = new MemoryStream();
        using (var deflate = new DeflateStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            deflate.Write(Encoding.UTF8.GetBytes(text));
            deflate.Flush();
            var bytes = output.ToArray();
            Assert.Equal([0x00, 0x00, 0xFF, 0xFF], bytes[^4..]);
            return bytes[..^4];
        }
    }
}

/// <summary>
/// A raw loopback client that sends its own <c>Sec-WebSocket-Extensions</c> and reads the server's frames with their
/// header bits (the hardening <see cref="RawFrameSocket"/> refuses reserved bits, which is right without deflate).
/// </summary>
public sealed class DeflateFrameSocket : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly Socket _socket;
    private readonly NetworkStream _stream;

    private DeflateFrameSocket(Socket socket, string responseHead)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
        ResponseHead = responseHead;
    }

    /// <summary>The 101 response's head (status line and headers).</summary>
    public string ResponseHead { get; private set; }

    /// <summary>The response's <c>Sec-WebSocket-Extensions</c> value, or null when it has none.</summary>
    public string? AcceptedExtensions =>
        ResponseHead.Split("\r\n").FirstOrDefault(l => l.StartsWith("Sec-WebSocket-Extensions:", StringComparison.OrdinalIgnoreCase))?.Split(':', 2)[1].Trim();

    /// <summary>Connects with <paramref name="extensions"/> as the offer (null: no header) and reads the 101.</summary>
    public static async Task<DeflateFrameSocket> ConnectAsync(Uri ws, string? extensions)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var cts = new CancellationTokenSource(Timeout);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, ws.Port), cts.Token);
        var client = new DeflateFrameSocket(socket, "");
        try
        {
            var request = $"GET {ws.PathAndQuery} HTTP/1.1\r\nHost: {ws.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                $"Sec-WebSocket-Key: {Convert.ToBase64String(Guid.NewGuid().ToByteArray())}\r\nSec-WebSocket-Version: 13\r\n" +
                (extensions is null ? "" : $"Sec-WebSocket-Extensions: {extensions}\r\n") + "\r\n";
            await client._stream.WriteAsync(Encoding.ASCII.GetBytes(request), cts.Token);
            var head = new StringBuilder();
            var one = new byte[1];
            while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await client._stream.ReadAsync(one, cts.Token) == 1)
                head.Append((char)one[0]);
            client.ResponseHead = head.ToString();
            Assert.StartsWith("HTTP/1.1 101", client.ResponseHead);
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    public async Task SendAsync(RawFrame frame)
    {
        using var cts = new CancellationTokenSource(Timeout);
        await _stream.WriteAsync(frame.Encode(), cts.Token);
    }

    /// <summary>The next data or close frame (pings skipped); null when the connection ended.</summary>
    public async Task<WireFrame?> ReadFrameAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Timeout);
        while (true)
        {
            var header = await ReadExactlyAsync(2, cts.Token);
            if (header is null)
                return null;
            Assert.True((header[1] & 0x80) == 0, "server frames must not be masked");
            long length = header[1] & 0x7f;
            if (length == 126)
                length = BinaryPrimitives.ReadUInt16BigEndian(await ReadExactlyAsync(2, cts.Token) ?? []);
            else if (length == 127)
                length = (long)BinaryPrimitives.ReadUInt64BigEndian(await ReadExactlyAsync(8, cts.Token) ?? []);
            Assert.InRange(length, 0, 1024 * 1024);
            var payload = length == 0 ? [] : await ReadExactlyAsync((int)length, cts.Token);
            if (payload is null)
                return null;
            var frame = new WireFrame(header[0], payload);
            if (frame.Opcode is 0x9 or 0xA)
                continue;
            Assert.True((header[0] & 0x80) != 0, "the server sends every message in one frame");
            return frame;
        }
    }

    /// <summary>Reads frames until one whose text satisfies <paramref name="match"/>; the frames read before it are dropped.</summary>
    public async Task<WireFrame> ReadUntilAsync(Func<string, bool> match)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (DateTime.UtcNow < deadline)
        {
            var frame = await ReadFrameAsync(deadline - DateTime.UtcNow) ?? throw new InvalidOperationException("The connection ended.");
            Assert.NotEqual(0x8, frame.Opcode);
            if (match(frame.Text))
                return frame;
        }
        throw new TimeoutException("No matching frame.");
    }

    private async Task<byte[]?> ReadExactlyAsync(int count, CancellationToken token)
    {
        var buffer = new byte[count];
        return await _stream.ReadAtLeastAsync(buffer, count, throwOnEndOfStream: false, token) == count ? buffer : null;
    }

    public void Dispose()
    {
        _stream.Dispose();
        _socket.Dispose();
    }
}
