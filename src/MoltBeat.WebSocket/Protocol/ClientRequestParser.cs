using System.Text.Json;

namespace MoltBeat.WebSocket.Protocol;

/// <summary>
/// Parses client messages with <see cref="Utf8JsonReader"/>, field by field, so that every
/// malformed or ill-typed input gets a precise <c>bad_request</c> message (and the request's
/// <c>id</c> when it could be read) instead of an exception.
/// </summary>
internal static class ClientRequestParser
{
    /// <summary>The largest <c>id</c> a client may use: 2^53-1, the largest integer JavaScript keeps exact.</summary>
    public const long MaxId = (1L << 53) - 1;

    /// <summary>The outcome of parsing one client message.</summary>
    /// <param name="Request">The request, when the message was valid.</param>
    /// <param name="Error">What was wrong, when it was not.</param>
    /// <param name="Id">The <c>id</c>, when it could be read even though the message was invalid.</param>
    public readonly record struct Result(ClientRequest? Request, string? Error, long? Id);

    private const int MaxDepth = 16;

    /// <summary>Parses one message (the UTF-8 payload of one text frame).</summary>
    public static Result Parse(ReadOnlySpan<byte> json)
    {
        long? id = null;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = MaxDepth });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                return new(null, "a message must be a JSON object", null);

            string? type = null, room = null, token = null;
            StreamPosition? since = null;
            int? last = null;
            double? maxRate = null;
            bool? occupancy = null;
            string? fieldError = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                // ValueTextEquals compares the unescaped name, so "typ\u0065" is "type", as in any JSON parser.
                var field = FieldOf(ref reader);
                reader.Read();
                switch (field)
                {
                    case Field.Type:
                        type = ReadString(ref reader, "type", ref fieldError);
                        break;
                    case Field.Id:
                        id = ReadId(ref reader, ref fieldError);
                        break;
                    case Field.Room:
                        room = ReadString(ref reader, "room", ref fieldError);
                        break;
                    case Field.Token:
                        token = ReadString(ref reader, "token", ref fieldError);
                        break;
                    case Field.Since:
                        since = ReadSince(ref reader, ref fieldError);
                        break;
                    case Field.Last:
                        last = ReadLast(ref reader, ref fieldError);
                        break;
                    case Field.MaxRate:
                        maxRate = ReadMaxRate(ref reader, ref fieldError);
                        break;
                    case Field.Occupancy:
                        occupancy = ReadBoolean(ref reader, "occupancy", ref fieldError);
                        break;
                    default:
                        reader.Skip(); // unknown fields are ignored (forward compatibility)
                        break;
                }
            }
            if (reader.TokenType != JsonTokenType.EndObject)
                return new(null, "malformed JSON", id);
            // Trailing content after the object (e.g. two objects in one frame) is not one message.
            if (reader.Read())
                return new(null, "one JSON object per message", id);
            if (fieldError is not null)
                return new(null, fieldError, id);
            if (type is null)
                return new(null, "missing field 'type'", id);
            return new(new ClientRequest(type, id, room, since, token, last, maxRate, occupancy), null, id);
        }
        catch (JsonException)
        {
            return new(null, "malformed JSON", id);
        }
        catch (InvalidOperationException)
        {
            // GetString throws this (not JsonException) for a lone surrogate escape ("\ud800") or invalid UTF-8 in a string.
            return new(null, "a string is not valid Unicode", id);
        }
    }

    private enum Field
    {
        Unknown,
        Type,
        Id,
        Room,
        Token,
        Since,
        Last,
        MaxRate,
        Occupancy,
    }

    private static Field FieldOf(ref Utf8JsonReader reader) =>
        reader.ValueTextEquals(WireNames.Type) ? Field.Type
        : reader.ValueTextEquals(WireNames.Id) ? Field.Id
        : reader.ValueTextEquals(WireNames.Room) ? Field.Room
        : reader.ValueTextEquals(WireNames.Token) ? Field.Token
        : reader.ValueTextEquals(WireNames.Since) ? Field.Since
        : reader.ValueTextEquals(WireNames.Last) ? Field.Last
        : reader.ValueTextEquals(WireNames.MaxRate) ? Field.MaxRate
        : reader.ValueTextEquals(WireNames.Occupancy) ? Field.Occupancy
        : Field.Unknown;

    private static string? ReadString(ref Utf8JsonReader reader, string field, ref string? error)
    {
        if (reader.TokenType == JsonTokenType.String)
            return reader.GetString();
        error ??= $"field '{field}' must be a string";
        reader.Skip();
        return null;
    }

    private static long? ReadId(ref Utf8JsonReader reader, ref string? error)
    {
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value) && value is >= 1 and <= MaxId)
            return value;
        error ??= "field 'id' must be an integer from 1 to 2^53-1";
        reader.Skip();
        return null;
    }

    private static int? ReadLast(ref Utf8JsonReader reader, ref string? error)
    {
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var value) && value is >= 0 and <= ProtocolLimits.MaxLast)
            return value;
        error ??= $"field 'last' must be an integer from 0 to {ProtocolLimits.MaxLast}";
        reader.Skip();
        return null;
    }

    private static double? ReadMaxRate(ref Utf8JsonReader reader, ref string? error)
    {
        // TryGetDouble refuses what does not fit a double; 1e400 is not a rate.
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetDouble(out var value) && value > 0 && value <= ProtocolLimits.MaxRate)
            return value;
        error ??= $"field 'maxRate' must be a number of events per second above 0 and at most {ProtocolLimits.MaxRate}";
        reader.Skip();
        return null;
    }

    private static bool? ReadBoolean(ref Utf8JsonReader reader, string field, ref string? error)
    {
        if (reader.TokenType is JsonTokenType.True or JsonTokenType.False)
            return reader.GetBoolean();
        error ??= $"field '{field}' must be true or false";
        reader.Skip();
        return null;
    }

    private static StreamPosition? ReadSince(ref Utf8JsonReader reader, ref string? error)
    {
        if (reader.TokenType == JsonTokenType.Null)
            return null;
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            error ??= "field 'since' must be an object {\"epoch\":string,\"offset\":integer}";
            reader.Skip();
            return null;
        }
        string? epoch = null;
        long? offset = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isEpoch = reader.ValueTextEquals(WireNames.Epoch);
            var isOffset = reader.ValueTextEquals(WireNames.Offset);
            reader.Read();
            if (isEpoch && reader.TokenType == JsonTokenType.String)
                epoch = reader.GetString();
            else if (isOffset && reader.TokenType == JsonTokenType.Number
                && reader.TryGetInt64(out var o) && o >= 0)
                offset = o;
            else
                reader.Skip();
        }
        if (epoch is null || offset is null)
        {
            error ??= "field 'since' must be an object {\"epoch\":string,\"offset\":integer >= 0}";
            return null;
        }
        return new StreamPosition(epoch, offset.Value);
    }
}
