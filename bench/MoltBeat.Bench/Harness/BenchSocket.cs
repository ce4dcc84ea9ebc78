using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MoltBeat.Bench.Harness;

/// <summary>
/// The load generator's WebSocket client: a raw TCP socket that does the RFC 6455 handshake, sends masked
/// text frames and reads the server's frames straight out of one pinned buffer, answering pings. With
/// socket continuations run inline (see Program.cs) it costs about 5–7 µs of CPU per received message
/// against about 10 µs for <see cref="System.Net.WebSockets.ClientWebSocket"/> (fanout-steady, "load
/// generator CPU per delivery"), so on a two-core machine more of the CPU is left to the server measured.
/// </summary>
internal sealed class BenchSocket : IDisposable
{
    // Above the largest batch a MoltBeat server sends by default (64 KB), so every frame fits whole.
    private const int BufferSize = 80 * 1024;
    private static readonly byte[] Mask = [7, 13, 21, 42];
    private readonly Socket _socket;
    private byte[]? _pending;

    private BenchSocket(Socket socket, byte[]? pending)
    {
        _socket = socket;
        _pending = pending;
    }

    /// <summary>Opens a connection (see <see cref="LoopbackConnector"/>), upgrades it, and sends <paramref name="messages"/>.</summary>
    public static async Task<BenchSocket> ConnectAsync(Uri ws, IEnumerable<byte[]> messages, CancellationToken cancellationToken, int? receiveBufferSize = null)
    {
        var socket = LoopbackConnector.Open();
        try
        {
            if (receiveBufferSize is { } size)
                socket.ReceiveBufferSize = size;
            await socket.ConnectAsync(IPAddress.Loopback, ws.Port, cancellationToken);
            var key = Convert.ToBase64String(Guid.NewGuid().ToByteArray());
            var request = $"GET {ws.PathAndQuery} HTTP/1.1\r\nHost: {ws.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n";
            await socket.SendAsync(Encoding.ASCII.GetBytes(request), cancellationToken);
            var pending = await ReadHandshakeAsync(socket, cancellationToken);
            foreach (var message in messages)
                await socket.SendAsync(MaskedText(message), cancellationToken);
            return new BenchSocket(socket, pending);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The underlying socket (the stalled client polls it).</summary>
    public Socket Socket => _socket;

    /// <summary>
    /// Reads frames until the server closes or <paramref name="cancellationToken"/> fires, passing each text
    /// frame's payload to <paramref name="onText"/> and answering pings. <paramref name="afterReceive"/>, when
    /// given, is awaited after each receive with the bytes it got: a slow reader waits there.
    /// </summary>
    /// <returns>The code of the server's close frame; 1005 for one without a code; 0 when the connection ended without one.</returns>
    public async Task<int> ReadAsync(SpanAction onText, CancellationToken cancellationToken, Func<int, CancellationToken, Task>? afterReceive = null)
    {
        // Pinned and uninitialized: 10k clients' buffers cost only the pages a message touches, and the
        // load generator's GC never copies them.
        var buffer = GC.AllocateUninitializedArray<byte>(BufferSize, pinned: true);
        var filled = 0;
        if (_pending is { } pending)
        {
            pending.CopyTo(buffer, 0);
            filled = pending.Length;
            _pending = null;
        }
        while (true)
        {
            var consumed = 0;
            while (TryParseFrame(buffer.AsSpan(consumed, filled - consumed), out var opcode, out var payloadStart, out var payloadLength))
            {
                var payload = buffer.AsSpan(consumed + payloadStart, payloadLength);
                if (opcode == 0x8)
                    return payloadLength >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(consumed + payloadStart)) : 1005;
                if (opcode == 0x9)
                    await _socket.SendAsync(MaskedFrame(0x8A, payload.ToArray()), cancellationToken);
                else if (opcode is 0x1 or 0x0)
                    onText(buffer.AsSpan(consumed + payloadStart, payloadLength));
                consumed += payloadStart + payloadLength;
            }
            if (consumed > 0)
            {
                buffer.AsSpan(consumed, filled - consumed).CopyTo(buffer);
                filled -= consumed;
            }
            if (filled == buffer.Length)
                throw new InvalidOperationException($"a frame bigger than {BufferSize} bytes");
            var read = await _socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cancellationToken);
            if (read == 0)
                return 0;
            filled += read;
            if (afterReceive is not null)
                await afterReceive(read, cancellationToken);
        }
    }

    /// <summary>A callback over one text payload.</summary>
    public delegate void SpanAction(ReadOnlySpan<byte> payload);

    private static bool TryParseFrame(ReadOnlySpan<byte> data, out int opcode, out int payloadStart, out int payloadLength)
    {
        opcode = payloadStart = payloadLength = 0;
        if (data.Length < 2)
            return false;
        opcode = data[0] & 0x0F;
        long length = data[1] & 0x7F;
        payloadStart = 2;
        if (length == 126)
        {
            if (data.Length < 4)
                return false;
            length = BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
            payloadStart = 4;
        }
        else if (length == 127)
        {
            if (data.Length < 10)
                return false;
            length = (long)BinaryPrimitives.ReadUInt64BigEndian(data[2..]);
            payloadStart = 10;
        }
        if (length > BufferSize)
            throw new InvalidOperationException($"a frame of {length} bytes, bigger than {BufferSize}");
        payloadLength = (int)length;
        return data.Length >= payloadStart + payloadLength;
    }

    /// <summary>Reads the 101 response; returns whatever the server sent after it already.</summary>
    private static async Task<byte[]?> ReadHandshakeAsync(Socket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        var filled = 0;
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cancellationToken);
            if (read == 0)
                throw new IOException("the server closed the connection during the handshake");
            filled += read;
            var end = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8);
            if (end < 0)
            {
                if (filled == buffer.Length)
                    throw new IOException("handshake response too long");
                continue;
            }
            var head = Encoding.ASCII.GetString(buffer, 0, end);
            if (!head.StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
                throw new IOException("handshake refused: " + head.Split('\r')[0]);
            var rest = filled - end - 4;
            return rest > 0 ? buffer.AsSpan(end + 4, rest).ToArray() : null;
        }
    }

    /// <summary>One masked text frame carrying <paramref name="payload"/>, as a client must send it.</summary>
    public static byte[] MaskedText(byte[] payload) => MaskedFrame(0x81, payload);

    private static byte[] MaskedFrame(byte first, byte[] payload)
    {
        var header = payload.Length < 126 ? new byte[] { first, (byte)(0x80 | payload.Length) } : [first, 0x80 | 126, (byte)(payload.Length >> 8), (byte)payload.Length];
        var frame = new byte[header.Length + 4 + payload.Length];
        header.CopyTo(frame, 0);
        Mask.CopyTo(frame, header.Length);
        for (var i = 0; i < payload.Length; i++)
            frame[header.Length + 4 + i] = (byte)(payload[i] ^ Mask[i % 4]);
        return frame;
    }

    /// <summary>Resets the connection (no TIME_WAIT left behind, see <see cref="LoopbackConnector"/>).</summary>
    public void Dispose() => _socket.Dispose();
}
