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
            w.WriteString("type", MessageTypes.Connected);
            w.WriteString("clientId", clientId);
            if (user is not null)
            {
                w.WriteStartObject("user");
                foreach (var (key, value) in user)
                    w.WriteString(key, value);
                w.WriteEndObject();
            }
            w.WriteNumber("heartbeatInterval", heartbeatIntervalMs);
            w.WriteNumber("protocol", MessageTypes.ProtocolVersion);
        });

    /// <summary><c>subscribed</c>: reply to <c>subscribe</c>, with the room's current position.</summary>
    public static byte[] Subscribed(string room, long? id, StreamPosition position, bool? recovered) =>
        Write(w =>
        {
            w.WriteString("type", MessageTypes.Subscribed);
            w.WriteString("room", room);
            WriteId(w, id);
            w.WriteString("epoch", position.Epoch);
            w.WriteNumber("offset", position.Offset);
            if (recovered is { } r)
                w.WriteBoolean("recovered", r);
        });

    /// <summary><c>unsubscribed</c>: reply to <c>unsubscribe</c>.</summary>
    public static byte[] Unsubscribed(string room, long? id) =>
        Write(w =>
        {
            w.WriteString("type", MessageTypes.Unsubscribed);
            w.WriteString("room", room);
            WriteId(w, id);
        });

    /// <summary><c>pong</c>: reply to <c>ping</c>.</summary>
    public static byte[] Pong(long? id) =>
        Write(w =>
        {
            w.WriteString("type", MessageTypes.Pong);
            WriteId(w, id);
        });

    /// <summary><c>authenticated</c>: reply to a token refresh, with the new expiry.</summary>
    public static byte[] Authenticated(long? id, DateTimeOffset? expiresAt) =>
        Write(w =>
        {
            w.WriteString("type", MessageTypes.Authenticated);
            WriteId(w, id);
            if (expiresAt is { } e)
                w.WriteNumber("expiresAt", e.ToUnixTimeMilliseconds());
        });

    /// <summary><c>error</c>: a request failed; the connection stays open unless a close follows.</summary>
    public static byte[] Error(long? id, string code, string message) =>
        Write(w =>
        {
            w.WriteString("type", MessageTypes.Error);
            WriteId(w, id);
            w.WriteString("code", code);
            w.WriteString("message", message);
        });

    private static void WriteId(Utf8JsonWriter w, long? id)
    {
        if (id is { } value)
            w.WriteNumber("id", value);
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
