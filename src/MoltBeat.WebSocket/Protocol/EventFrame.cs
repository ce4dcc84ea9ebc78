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
}
