using System.Buffers;
using System.Text.Json;

namespace MoltBeat.WebSocket.Protocol;

/// <summary>
/// Writes the server → client messages of protocol v1 as compact UTF-8 JSON (never a raw newline,
/// so that batched frames can separate messages with <c>\n</c>).
/// </summary>
internal static class ServerMessages
{
    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false, SkipValidation = false };

    /// <summary><c>connected</c>: the first message after the handshake (and authentication).</summary>
    public static byte[] Connected(string clientId, IReadOnlyDictionary<string, string>? user, int heartbeatIntervalMs) =>
        Write(w =>
        {
            w.WriteString(WireNames.Type, MessageTypes.Connected);
            w.WriteString(WireNames.ClientId, clientId);
            if (user is not null)
            {
                w.WriteStartObject(WireNames.User);
                foreach (var (key, value) in user)
                    w.WriteString(key, value);
                w.WriteEndObject();
            }
            w.WriteNumber(WireNames.HeartbeatInterval, heartbeatIntervalMs);
            w.WriteNumber(WireNames.Protocol, MessageTypes.ProtocolVersion);
        });

    /// <summary>
    /// <c>subscribed</c>: reply to <c>subscribe</c>, with the room's current position and, when the subscribe asked
    /// for <c>since</c> or <c>last</c>, how many events follow before the first live one (<paramref name="replay"/>).
    /// </summary>
    public static byte[] Subscribed(string room, long? id, StreamPosition position, bool? recovered, int? replay = null) =>
        Write(w =>
        {
            w.WriteString(WireNames.Type, MessageTypes.Subscribed);
            w.WriteString(WireNames.Room, room);
            WriteId(w, id);
            w.WriteString(WireNames.Epoch, position.Epoch);
            w.WriteNumber(WireNames.Offset, position.Offset);
            if (recovered is { } r)
                w.WriteBoolean(WireNames.Recovered, r);
            if (replay is { } n)
                w.WriteNumber(WireNames.Replay, n);
        });

    /// <summary><c>occupancy</c> (revision 1.1): a room's subscribers across every node, for subscriptions that asked.</summary>
    public static byte[] Occupancy(string room, long subscribers) =>
        Write(w =>
        {
            w.WriteString(WireNames.Type, MessageTypes.Occupancy);
            w.WriteString(WireNames.Room, room);
            w.WriteNumber(WireNames.Subscribers, subscribers);
        });

    /// <summary>
    /// <c>unsubscribed</c>: the reply to <c>unsubscribe</c> (with its id), or, with a <paramref name="reason"/> and
    /// no id, the server removing a subscription by itself (revision 1.1: <see cref="UnsubscribeReasons"/>).
    /// </summary>
    public static byte[] Unsubscribed(string room, long? id, string? reason = null) =>
        Write(w =>
        {
            w.WriteString(WireNames.Type, MessageTypes.Unsubscribed);
            w.WriteString(WireNames.Room, room);
            WriteId(w, id);
            if (reason is not null)
                w.WriteString(WireNames.Reason, reason);
        });

    /// <summary><c>pong</c>: reply to <c>ping</c>.</summary>
    public static byte[] Pong(long? id) =>
        Write(w =>
        {
            w.WriteString(WireNames.Type, MessageTypes.Pong);
            WriteId(w, id);
        });

    /// <summary><c>authenticated</c>: reply to a token refresh, with the new expiry.</summary>
    public static byte[] Authenticated(long? id, DateTimeOffset? expiresAt) =>
        Write(w =>
        {
            w.WriteString(WireNames.Type, MessageTypes.Authenticated);
            WriteId(w, id);
            if (expiresAt is { } e)
                w.WriteNumber(WireNames.ExpiresAt, e.ToUnixTimeMilliseconds());
        });

    /// <summary><c>error</c>: a request failed; the connection stays open unless a close follows.</summary>
    public static byte[] Error(long? id, string code, string message) =>
        Write(w =>
        {
            w.WriteString(WireNames.Type, MessageTypes.Error);
            WriteId(w, id);
            w.WriteString(WireNames.Code, code);
            w.WriteString(WireNames.Message, message);
        });

    private static void WriteId(Utf8JsonWriter w, long? id)
    {
        if (id is { } value)
            w.WriteNumber(WireNames.Id, value);
    }

    private static byte[] Write(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}
