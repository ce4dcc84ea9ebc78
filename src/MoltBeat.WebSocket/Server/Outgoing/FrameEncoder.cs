using System.Buffers.Binary;

namespace MoltBeat.WebSocket.Server.Outgoing;

/// <summary>
/// RFC 6455 framing of what the server sends: unmasked frames, so a header is all there is to add. A
/// connection's output frames straight into the buffer it sends (no framed copy per message); the
/// receive side's pongs and close frames still come from the framework's WebSocket.
/// </summary>
internal static class FrameEncoder
{
    /// <summary>An unmasked ping with no payload: FIN + opcode 9, length 0.</summary>
    public static ReadOnlySpan<byte> Ping => [0x89, 0x00];

    /// <summary>The header's length for a payload of <paramref name="payloadLength"/> bytes.</summary>
    public static int HeaderLength(int payloadLength) => payloadLength < 126 ? 2 : payloadLength <= ushort.MaxValue ? 4 : 10;

    /// <summary>
    /// Writes the header of a final text frame of <paramref name="payloadLength"/> bytes, with RSV1 set when the payload
    /// is compressed (permessage-deflate, RFC 7692 §6); returns its length.
    /// </summary>
    public static int WriteTextHeader(Span<byte> destination, int payloadLength, bool compressed = false)
    {
        destination[0] = compressed ? (byte)0xC1 : (byte)0x81; // FIN (+ RSV1) + text
        if (payloadLength < 126)
        {
            destination[1] = (byte)payloadLength;
            return 2;
        }
        if (payloadLength <= ushort.MaxValue)
        {
            destination[1] = 126;
            BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)payloadLength);
            return 4;
        }
        destination[1] = 127;
        BinaryPrimitives.WriteUInt64BigEndian(destination[2..], (ulong)payloadLength);
        return 10;
    }

    /// <summary>A close frame with <paramref name="code"/> and a short ASCII <paramref name="reason"/> (at most 123 bytes).</summary>
    public static byte[] Close(int code, string reason)
    {
        var frame = new byte[4 + reason.Length];
        frame[0] = 0x88; // FIN + close
        frame[1] = (byte)(2 + reason.Length);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)code);
        System.Text.Encoding.ASCII.GetBytes(reason, frame.AsSpan(4));
        return frame;
    }

    /// <summary>Whether <paramref name="frame"/> starts with a close frame's header (FIN + opcode 8).</summary>
    public static bool IsClose(ReadOnlySpan<byte> frame) => frame.Length >= 2 && frame[0] == 0x88;

    /// <summary>The status code of a server's (unmasked) close frame; null when it is not one or carries no code.</summary>
    public static int? CloseCodeOf(ReadOnlySpan<byte> frame) =>
        IsClose(frame) && frame.Length >= 4 && (frame[1] & 0x7F) is >= 2 and <= 125 ? BinaryPrimitives.ReadUInt16BigEndian(frame[2..]) : null;
}
