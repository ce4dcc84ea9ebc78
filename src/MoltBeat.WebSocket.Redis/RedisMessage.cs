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
/// <item><c>M&lt;count&gt;\n</c> then, for each of count messages, <c>&lt;its length in bytes&gt;\n&lt;message&gt;</c>: the room
/// events (each with its <c>T</c> line, if any) of one publish script call, in their order; never recorded (each event's
/// history entry is its own <c>E</c> message).</item>
/// <item><c>S&lt;all epoch&gt;\n&lt;all offset&gt;</c>: a sync marker (every event up to that offset was published before it).</item>
/// <item><c>T&lt;traceparent&gt;\n</c> before a room event on the channel (never in a history): the publish span it continues.</item>
/// <item><c>P&lt;query id&gt;\n&lt;room&gt;</c>: a presence query; every node writes its part into the query's hash; never recorded.</item>
/// <item><c>C&lt;kind&gt;\n&lt;time, Unix ms&gt;\n&lt;room or nothing&gt;\n&lt;user id&gt;</c>: an operator's control, kind <c>R</c>
/// (revoke user) or <c>U</c> (unsubscribe user from the room); never recorded. The user id, in UTF-8, is the rest of
/// the message, so it may hold any character.</item>
/// </list>
/// </summary>
internal static class RedisMessage
{
    public const byte Event = (byte)'E';
    public const byte Broadcast = (byte)'B';
    public const byte Sync = (byte)'S';
    public const byte Trace = (byte)'T';
    public const byte PresenceQuery = (byte)'P';
    public const byte Batch = (byte)'M';

    /// <summary>The messages an <c>M</c> message holds, in order.</summary>
    /// <exception cref="FormatException">The message is not a batch, or a length does not fit it.</exception>
    public static List<ReadOnlyMemory<byte>> SplitBatch(ReadOnlyMemory<byte> message)
    {
        var span = message.Span;
        if (span.IsEmpty || span[0] != Batch)
            throw new FormatException("Not a batch message.");
        var rest = span[1..];
        var count = int.Parse(TakeLine(ref rest), NumberStyles.None, CultureInfo.InvariantCulture);
        var parts = new List<ReadOnlyMemory<byte>>(count);
        var at = message.Length - rest.Length;
        for (var i = 0; i < count; i++)
        {
            var before = rest.Length;
            var length = int.Parse(TakeLine(ref rest), NumberStyles.None, CultureInfo.InvariantCulture);
            at += before - rest.Length;
            if (length > rest.Length)
                throw new FormatException("Truncated batch message.");
            parts.Add(message.Slice(at, length));
            rest = rest[length..];
            at += length;
        }
        return parts;
    }

    /// <summary>Splits a channel message into the traceparent line it may start with and the message itself.</summary>
    /// <exception cref="FormatException">A trace line without its end.</exception>
    public static (string? TraceParent, ReadOnlyMemory<byte> Message) SplitTrace(ReadOnlyMemory<byte> message)
    {
        if (message.IsEmpty || message.Span[0] != Trace)
            return (null, message);
        var end = message.Span.IndexOf((byte)'\n');
        if (end < 0)
            throw new FormatException("Truncated trace line.");
        return (Encoding.ASCII.GetString(message.Span[1..end]), message[(end + 1)..]);
    }
    public const byte Control = (byte)'C';

    /// <summary>The message that carries a broadcast to every client.</summary>
    public static byte[] ForBroadcast(byte[] frame)
    {
        var message = new byte[frame.Length + 2];
        message[0] = Broadcast;
        message[1] = (byte)'\n';
        frame.CopyTo(message, 2);
        return message;
    }

    /// <summary>The message that carries an operator's control to every node.</summary>
    public static byte[] ForControl(EngineControl control)
    {
        var kind = control.Kind switch
        {
            EngineControlKind.RevokeUser => 'R',
            EngineControlKind.UnsubscribeUser => 'U',
            _ => throw new ArgumentOutOfRangeException(nameof(control), control.Kind, "Unknown control kind."),
        };
        var header = string.Create(CultureInfo.InvariantCulture, $"C{kind}\n{control.At.ToUnixTimeMilliseconds()}\n{control.Room}\n");
        var message = new byte[header.Length + Encoding.UTF8.GetByteCount(control.UserId)];
        Encoding.ASCII.GetBytes(header, message);
        Encoding.UTF8.GetBytes(control.UserId, message.AsSpan(header.Length));
        return message;
    }

    /// <summary>Parses an operator's control.</summary>
    /// <exception cref="FormatException">The message is not a control, or not a valid one.</exception>
    public static EngineControl ParseControl(ReadOnlySpan<byte> message)
    {
        if (message.Length < 2 || message[0] != Control)
            throw new FormatException("Not a control message.");
        var kind = message[1];
        var rest = message[2..];
        TakeLine(ref rest);
        var at = DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(TakeLine(ref rest), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture));
        var room = Encoding.ASCII.GetString(TakeLine(ref rest));
        var userId = Encoding.UTF8.GetString(rest);
        try
        {
            return kind switch
            {
                (byte)'R' => EngineControl.RevokeUser(userId, at),
                (byte)'U' => EngineControl.UnsubscribeUser(userId, room, at),
                _ => throw new FormatException("Unknown control kind."),
            };
        }
        catch (ArgumentException ex)
        {
            throw new FormatException("Invalid control message: " + ex.Message, ex);
        }
    }

    /// <summary>Parses a room event; <paramref name="rooms"/> may supply the delivery rooms when the caller knows them.</summary>
    /// <exception cref="FormatException">The message is not a room event.</exception>
    public static (string AllEpoch, PublishedEvent Event) ParseEvent(ReadOnlySpan<byte> message, string[]? rooms = null, string? traceParent = null)
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
        return (epoch, new PublishedEvent(rest.ToArray(), rooms, offsets) { TraceParent = traceParent });
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
