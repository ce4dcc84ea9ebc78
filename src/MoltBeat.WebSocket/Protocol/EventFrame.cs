using System.Buffers;
using System.Text.Json;

namespace MoltBeat.WebSocket.Protocol;

/// <summary>
/// Builds the <c>event</c> message of one publish. It is built once per publish and the same bytes
/// go to every recipient, so nothing in it may depend on who receives it.
/// </summary>
public static class EventFrame
{
    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false };

    /// <summary>Writes the <c>event</c> message.</summary>
    /// <param name="rooms">The rooms the publisher named; empty for a broadcast to every client.</param>
    /// <param name="eventName">The event name, e.g. <c>agent:created</c>.</param>
    /// <param name="data">The payload, already serialized as compact JSON.</param>
    /// <param name="timestampMs">Server time of publication, ms since the Unix epoch.</param>
    /// <param name="offsets">The event's position in every room it was recorded in; null when not recorded.</param>
    public static byte[] Build(
        IReadOnlyList<string> rooms,
        string eventName,
        ReadOnlySpan<byte> data,
        long timestampMs,
        IReadOnlyList<KeyValuePair<string, long>>? offsets) => Build(rooms, eventName, data, timestampMs, key: null, offsets);

    /// <summary>Writes the <c>event</c> message with its conflation key (revision 1.1), written just before the offsets.</summary>
    /// <param name="rooms">The rooms the publisher named; empty for a broadcast to every client.</param>
    /// <param name="eventName">The event name, e.g. <c>agent:created</c>.</param>
    /// <param name="data">The payload, already serialized as compact JSON.</param>
    /// <param name="timestampMs">Server time of publication, ms since the Unix epoch.</param>
    /// <param name="key">The conflation key, 1 to <see cref="ProtocolLimits.MaxKeyLength"/> characters; null for none.</param>
    /// <param name="offsets">The event's position in every room it was recorded in; null when not recorded.</param>
    public static byte[] Build(
        IReadOnlyList<string> rooms,
        string eventName,
        ReadOnlySpan<byte> data,
        long timestampMs,
        string? key,
        IReadOnlyList<KeyValuePair<string, long>>? offsets)
    {
        var buffer = new ArrayBufferWriter<byte>(data.Length + 160);
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString(WireNames.Type, MessageTypes.Event);
            if (rooms.Count > 0)
                w.WriteString(WireNames.Room, rooms[0]);
            if (rooms.Count > 1)
            {
                w.WriteStartArray(WireNames.Rooms);
                foreach (var room in rooms)
                    w.WriteStringValue(room);
                w.WriteEndArray();
            }
            w.WriteString(WireNames.Event, eventName);
            w.WritePropertyName(WireNames.Data);
            // The payload came from our own compact serializer, so it holds no raw newline.
            w.WriteRawValue(data, skipInputValidation: true);
            w.WriteNumber(WireNames.Ts, timestampMs);
            // Last before the offsets, which a Redis script appends: ConflationIdentity finds it from there.
            if (key is not null)
                w.WriteString(WireNames.Key, key);
            if (offsets is not null)
            {
                w.WriteStartObject(WireNames.Offsets);
                foreach (var (room, offset) in offsets)
                    w.WriteNumber(room, offset);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// What conflation compares (revision 1.1): the event's room(s), event name and key, as one string; null for an event
    /// without a key, which is never conflated.
    /// </summary>
    /// <remarks>
    /// Read back from the frame rather than carried beside it, so that every engine's events (Redis: parsed on each node)
    /// have it, and only events that meet conflation pay for it. The frame's shape is <see cref="Build(IReadOnlyList{string}, string, ReadOnlySpan{byte}, long, string?, IReadOnlyList{KeyValuePair{string, long}}?)"/>'s:
    /// everything before <c>,"data":</c> is type, room(s) and event name (room names hold no quote, and quotes in the
    /// event name are escaped, so the first <c>,"data":</c> is the real one); the key, when there is one, is the last string
    /// before <c>,"offsets":{</c> (whose contents are room names and numbers) or before the final brace.
    /// </remarks>
    internal static string? ConflationIdentity(ReadOnlySpan<byte> frame)
    {
        var end = frame.LastIndexOf(",\"offsets\":{"u8);
        if (end < 0)
            end = frame.Length - 1;
        // A keyed frame has the key's closing quote here; an unkeyed one the last digit of "ts".
        if (end < 1 || frame[end - 1] != (byte)'"')
            return null;
        var keyAt = frame[..end].LastIndexOf(",\"key\":\""u8);
        var dataAt = frame.IndexOf(",\"data\":"u8);
        if (keyAt < 0 || dataAt < 0 || keyAt < dataAt)
            return null;
        var head = frame[..dataAt];
        var key = frame[(keyAt + 8)..(end - 1)];
        return System.Text.Encoding.UTF8.GetString(head) + "\n" + System.Text.Encoding.UTF8.GetString(key);
    }

    /// <summary>Bytes <see cref="WriteConflated"/> adds to a frame for a count of <paramref name="conflated"/>.</summary>
    internal static int ConflatedLength(int conflated) => conflated <= 0 ? 0 : ConflatedField.Length + Digits(conflated);

    /// <summary>
    /// Writes <paramref name="frame"/> into <paramref name="destination"/> with <c>"conflated":k</c> as its last field (k &gt; 0), or as it is.
    /// </summary>
    /// <returns>The bytes written: the frame's length plus <see cref="ConflatedLength"/>.</returns>
    internal static int WriteConflated(Span<byte> destination, ReadOnlySpan<byte> frame, int conflated)
    {
        if (conflated <= 0)
        {
            frame.CopyTo(destination);
            return frame.Length;
        }
        // The frame ends with the object's closing brace: the field goes just before it.
        var at = frame.Length - 1;
        frame[..at].CopyTo(destination);
        ConflatedField.CopyTo(destination[at..]);
        at += ConflatedField.Length;
        conflated.TryFormat(destination[at..], out var written, provider: System.Globalization.CultureInfo.InvariantCulture);
        at += written;
        destination[at++] = (byte)'}';
        return at;
    }

    private static ReadOnlySpan<byte> ConflatedField => ",\"conflated\":"u8;

    private static int Digits(int value)
    {
        var digits = 1;
        while (value >= 10)
        {
            value /= 10;
            digits++;
        }
        return digits;
    }
}
