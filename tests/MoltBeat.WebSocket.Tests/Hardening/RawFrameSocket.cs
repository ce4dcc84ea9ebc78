using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MoltBeat.WebSocket.Tests.Hardening;

/// <summary>One WebSocket frame as it goes on the wire, with every bit a hostile client could get wrong.</summary>
/// <param name="Opcode">0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong; anything else is reserved.</param>
/// <param name="Payload">The unmasked payload.</param>
/// <param name="Fin">The FIN bit.</param>
/// <param name="Rsv">The three reserved bits (0..7), which a peer without extensions must refuse.</param>
/// <param name="Masked">Whether the frame is masked, as every client frame must be.</param>
/// <param name="DeclaredLength">A payload length to announce instead of the real one (to lie about it).</param>
public sealed record RawFrame(int Opcode, byte[] Payload, bool Fin = true, int Rsv = 0, bool Masked = true, long? DeclaredLength = null)
{
    public static RawFrame Text(string text, bool fin = true) => new(1, Encoding.UTF8.GetBytes(text), fin);

    public static RawFrame Continuation(byte[] payload, bool fin) => new(0, payload, fin);

    /// <summary>The bytes of the frame, masked with a fixed key when <see cref="Masked"/>.</summary>
    public byte[] Encode()
    {
        var length = DeclaredLength ?? Payload.Length;
        using var frame = new MemoryStream();
        frame.WriteByte((byte)((Fin ? 0x80 : 0) | ((Rsv & 7) << 4) | (Opcode & 0x0f)));
        var maskBit = Masked ? 0x80 : 0;
        if (length is >= 0 and < 126)
        {
            frame.WriteByte((byte)(maskBit | (int)length));
        }
        else if (length is >= 0 and <= ushort.MaxValue)
        {
            frame.WriteByte((byte)(maskBit | 126));
            Span<byte> l = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16BigEndian(l, (ushort)length);
            frame.Write(l);
        }
        else
        {
            frame.WriteByte((byte)(maskBit | 127));
            Span<byte> l = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(l, (ulong)length);
            frame.Write(l);
        }
        byte[] mask = [0x37, 0xfa, 0x21, 0x3d];
        if (Masked)
            frame.Write(mask);
        for (var i = 0; i < Payload.Length; i++)
            frame.WriteByte(Masked ? (byte)(Payload[i] ^ mask[i % 4]) : Payload[i]);
        return frame.ToArray();
    }

    public override string ToString() =>
        $"op={Opcode} fin={Fin} rsv={Rsv} masked={Masked} len={Payload.Length}{(DeclaredLength is { } d ? $" declared={d}" : "")} payload={Convert.ToHexString(Payload.AsSpan(0, Math.Min(Payload.Length, 2000)))}";
}

/// <summary>What the server sent back: messages (text frames) and how it ended.</summary>
public sealed record ServerReaction(List<string> Texts, int? CloseCode, bool ConnectionDropped, bool TimedOut);

/// <summary>
/// A hand-rolled WebSocket client on a raw loopback TCP socket that sends arbitrary bytes and frames
/// (the <see cref="Infrastructure.StalledSocket"/> idea, extended to every frame a hostile client can write)
/// and reads the server's frames without any validation of its own.
/// </summary>
public sealed class RawFrameSocket : IDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _socket;
    private readonly NetworkStream _stream;

    private RawFrameSocket(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
    }

    public Socket Socket => _socket;

    /// <summary>Opens a TCP connection to the server without any handshake.</summary>
    public static async Task<RawFrameSocket> OpenTcpAsync(Uri ws)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var cts = new CancellationTokenSource(DefaultTimeout);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, ws.Port), cts.Token);
        return new RawFrameSocket(socket);
    }

    /// <summary>Connects and completes the opening handshake; returns after the 101 response headers.</summary>
    public static async Task<RawFrameSocket> ConnectAsync(Uri ws)
    {
        var client = await OpenTcpAsync(ws);
        try
        {
            await client.WriteAsync(Encoding.ASCII.GetBytes(HandshakeRequest(ws)));
            var headers = await client.ReadHttpHeadersAsync(DefaultTimeout);
            Assert.StartsWith("HTTP/1.1 101", headers);
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    public static string HandshakeRequest(Uri ws) =>
        $"GET {ws.PathAndQuery} HTTP/1.1\r\nHost: {ws.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        $"Sec-WebSocket-Key: {Convert.ToBase64String(Guid.NewGuid().ToByteArray())}\r\nSec-WebSocket-Version: 13\r\n\r\n";

    public async Task WriteAsync(ReadOnlyMemory<byte> bytes)
    {
        using var cts = new CancellationTokenSource(DefaultTimeout);
        await _stream.WriteAsync(bytes, cts.Token);
    }

    /// <summary>Sends frames; false when the server had closed the connection already (a reset while writing).</summary>
    public async Task<bool> TrySendAsync(params RawFrame[] frames)
    {
        try
        {
            foreach (var frame in frames)
                await WriteAsync(frame.Encode());
            return true;
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>Reads the HTTP response headers up to the blank line.</summary>
    public async Task<string> ReadHttpHeadersAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var headers = new StringBuilder();
        var one = new byte[1];
        while (!headers.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await _stream.ReadAsync(one, cts.Token) == 0)
                break;
            headers.Append((char)one[0]);
        }
        return headers.ToString();
    }

    /// <summary>
    /// Reads server frames until a close frame, the end of the connection, <paramref name="until"/> matching
    /// a text message, or the timeout. Answers nothing (a close handshake is left to the caller).
    /// </summary>
    public async Task<ServerReaction> ReadAsync(TimeSpan timeout, Func<string, bool>? until = null)
    {
        using var cts = new CancellationTokenSource(timeout);
        var texts = new List<string>();
        var message = new MemoryStream();
        try
        {
            while (true)
            {
                var header = await ReadExactlyAsync(2, cts.Token);
                if (header is null)
                    return new(texts, null, true, false);
                var opcode = header[0] & 0x0f;
                long length = header[1] & 0x7f;
                Assert.True((header[1] & 0x80) == 0, "server frames must not be masked");
                Assert.True((header[0] & 0x70) == 0, "server frames must not set reserved bits");
                if (length == 126)
                    length = BinaryPrimitives.ReadUInt16BigEndian(await ReadExactlyAsync(2, cts.Token));
                else if (length == 127)
                    length = (long)BinaryPrimitives.ReadUInt64BigEndian(await ReadExactlyAsync(8, cts.Token));
                Assert.InRange(length, 0, 16 * 1024 * 1024);
                var payload = length == 0 ? [] : await ReadExactlyAsync((int)length, cts.Token);
                if (payload is null)
                    return new(texts, null, true, false);
                switch (opcode)
                {
                    case 0x8:
                        return new(texts, payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(payload) : 1005, false, false);
                    case 0x1 or 0x0:
                        message.Write(payload);
                        if ((header[0] & 0x80) != 0)
                        {
                            var text = Encoding.UTF8.GetString(message.ToArray());
                            message.SetLength(0);
                            texts.Add(text);
                            if (until?.Invoke(text) == true)
                                return new(texts, null, false, false);
                        }
                        break;
                    case 0x9 or 0xA:
                        break; // server pings are not answered: a test that wants pongs sends them
                    default:
                        Assert.Fail($"server sent opcode {opcode}");
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            return new(texts, null, false, true);
        }
        catch (Exception ex) when (ex is IOException or SocketException)
        {
            return new(texts, null, true, false);
        }
    }

    /// <summary>Exactly <paramref name="count"/> bytes, or null when the connection ended first.</summary>
    private async Task<byte[]?> ReadExactlyAsync(int count, CancellationToken token)
    {
        var buffer = new byte[count];
        return await _stream.ReadAtLeastAsync(buffer, count, throwOnEndOfStream: false, token) == count ? buffer : null;
    }

    /// <summary>Closes without FIN handshake niceties: a reset, as a crashed client's kernel would send.</summary>
    public void Reset()
    {
        try
        {
            _socket.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
        }
        Dispose();
    }

    public void Dispose()
    {
        _stream.Dispose();
        _socket.Dispose();
    }
}
