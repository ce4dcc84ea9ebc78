using System.Globalization;
using System.Text;
using MoltBeat.WebSocket.Engine;

namespace MoltBeat.WebSocket.Redis;

/// <summary>
/// The messages on the deployment's channel, which are also the entries of room histories. ASCII header
/// lines, then the <c>event</c> frame exactly as clients receive it (it never holds a raw newline):
/// <list type="bullet">
/// <item><c>E&lt;all epoch&gt;\n&lt;room,room,...,all&gt;\n&lt;offset,offset,...&gt;\n&lt;frame&gt;</c>: a room event.</item>
/// <item><c>B\n&lt;frame&gt;</c>: a broadcast to every client, not recorded.</item>
/// <item><c>S&lt;all epoch&gt;\n&lt;all offset&gt;</c>: a sync marker (every event up to that offset was published before it).</item>
/// </list>
/// </summary>
internal static class RedisMessage
{
    public const byte Event = (byte)'E';
    public const byte Broadcast = (byte)'B';
    public const byte Sync = (byte)'S';

    /// <summary>The message that carries a broadcast to every client.</summary>
    public static byte[] ForBroadcast(byte[] frame)
    {
        var message = new byte[frame.Length + 2];
        message[0] = Broadcast;
        message[1] = (byte)'\n';
        frame.CopyTo(message, 2);
        return message;
    }

    /// <summary>Parses a room event; <paramref name="rooms"/> may supply the delivery rooms when the caller knows them.</summary>
    /// <exception cref="FormatException">The message is not a room event.</exception>
    public static (string AllEpoch, PublishedEvent Event) ParseEvent(ReadOnlySpan<byte> message, string[]? rooms = null)
    {
        if (message.IsEmpty || message[0] != Event)
            throw new FormatException("Not a room event message.");
        var rest = message[1..];
        var epoch = Encoding.ASCII.GetString(TakeLine(ref rest));
        var roomLine = TakeLine(ref rest);
        var offsetLine = TakeLine(ref rest);
        rooms ??= Encoding.ASCII.GetString(roomLine).Split(',');
        var offsets = new long[rooms.Length];
        for (var i = 0; i < offsets.Length; i++)
        {
            var comma = offsetLine.IndexOf((byte)',');
            var number = comma < 0 ? offsetLine : offsetLine[..comma];
            offsets[i] = long.Parse(number, NumberStyles.None, CultureInfo.InvariantCulture);
            offsetLine = comma < 0 ? [] : offsetLine[(comma + 1)..];
        }
        return (epoch, new PublishedEvent(rest.ToArray(), rooms, offsets));
    }

    /// <summary>Parses a sync marker.</summary>
    /// <exception cref="FormatException">The message is not a sync marker.</exception>
    public static (string AllEpoch, long AllOffset) ParseSync(ReadOnlySpan<byte> message)
    {
        if (message.IsEmpty || message[0] != Sync)
            throw new FormatException("Not a sync message.");
        var rest = message[1..];
        var epoch = Encoding.ASCII.GetString(TakeLine(ref rest));
        return (epoch, long.Parse(rest, NumberStyles.None, CultureInfo.InvariantCulture));
    }

    private static ReadOnlySpan<byte> TakeLine(ref ReadOnlySpan<byte> rest)
    {
        var end = rest.IndexOf((byte)'\n');
        if (end < 0)
            throw new FormatException("Truncated message header.");
        var line = rest[..end];
        rest = rest[(end + 1)..];
        return line;
    }
}
