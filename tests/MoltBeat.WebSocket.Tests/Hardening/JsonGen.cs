using System.Text;
using System.Text.Json;
using CsCheck;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Tests.Hardening;

/// <summary>CsCheck generators for what hostile clients send: JSON of every shape, and almost-valid requests.</summary>
public static class JsonGen
{
    /// <summary>The field names the parser knows, so that generated objects hit them (and repeat them) often.</summary>
    private static readonly string[] Keys = ["type", "id", "room", "token", "since", "epoch", "offset", "data", "", "Type", "typ\\u0065", "\\u0000"];

    private static readonly string[] Types = ["ping", "subscribe", "unsubscribe", "auth", "teleport", "", "PING", "ping\\u0000", "\\ud800"];

    /// <summary>Numbers a client should never send: huge, tiny, negative, fractional, exponent overflows.</summary>
    private static readonly string[] OddNumbers =
    [
        "0", "-0", "1", "-1", "1.0", "1.5", "1e3", "1E-7", "9007199254740991", "9007199254740992", "-9007199254740993",
        "9223372036854775807", "9223372036854775808", "18446744073709551616", "1e400", "-1e400", "4.9e-325",
        "1" + new string('0', 400), "0." + new string('0', 300) + "1", "123456789012345678901234567890e-30",
    ];

    /// <summary>Strings with escapes and code points that trip up decoders.</summary>
    private static readonly string[] OddStrings =
    [
        "\"\"", "\"a\"", "\"analytics\"", "\"agent:1\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud83d\\ude00\"", "\"\\ud83d\"",
        "\"\\u0000\"", "\"\\n\\r\\t\\b\\f\\/\\\\\\\"\"", "\"\\u2028\\u2029\"", "\"\uFEFF\"", "\"\u202Eabc\"", "\"e\u0301\"",
        "\"😀\"", "\"𝄞\"", "\"\u0430gent:1\"", "\"\\uFFFF\"", "\"\\uFFFE\"", "\"" + new string('x', 3000) + "\"",
    ];

    public static readonly Gen<string> Number = Gen.OneOf<string>(
        Gen.OneOf(OddNumbers),
        Gen.Long.Select(l => l.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        Gen.Double.Select(d => double.IsFinite(d) ? d.ToString("R", System.Globalization.CultureInfo.InvariantCulture) : "1e308"));

    public static readonly Gen<string> Text = Gen.OneOf<string>(
        Gen.OneOf(OddStrings),
        Gen.String.Select(s => JsonSerializer.Serialize(s)),
        Gen.Char.Array[0, 12].Select(cs => JsonSerializer.Serialize(new string(cs))));

    public static readonly Gen<string> Scalar = Gen.Frequency(
        (4, Text), (3, Number), (1, Gen.OneOf("true", "false", "null")));

    /// <summary>Any JSON value, nested a few levels, with objects whose keys are often the parser's own (and repeat).</summary>
    public static readonly Gen<string> Value = Gen.Recursive<string>((depth, value) =>
        depth >= 5
            ? Scalar
            : Gen.Frequency(
                (5, Scalar),
                (2, value.Array[0, 4].Select(items => "[" + string.Join(",", items) + "]")),
                (3, Gen.Select(Gen.OneOf<string>(Gen.OneOf(Keys), Gen.String[0, 6]), value).Array[0, 6]
                    .Select(fields => "{" + string.Join(",", fields.Select(f => KeyJson(f.Item1) + ":" + f.Item2)) + "}"))));

    /// <summary>An object with a few known fields of any type, possibly duplicated: what the parser must classify.</summary>
    public static readonly Gen<string> RequestLike = Gen.Select(
            Gen.OneOf(Keys).Array[1, 7],
            Gen.Frequency((3, Gen.OneOf(Types).Select(t => "\"" + t + "\"")), (4, Value)).Array[7])
        .Select((keys, values) => "{" + string.Join(",", keys.Select((k, i) => KeyJson(k) + ":" + values[i])) + "}");

    /// <summary>Nesting far past the parser's limit of 16, as arrays, objects, or inside a known field.</summary>
    public static readonly Gen<string> Deep = Gen.Select(Gen.Int[1, 3000], Gen.Int[0, 2]).Select((n, shape) => shape switch
    {
        0 => new string('[', n) + new string(']', n),
        1 => string.Concat(Enumerable.Repeat("{\"a\":", n)) + "1" + new string('}', n),
        _ => "{\"type\":\"ping\",\"since\":" + string.Concat(Enumerable.Repeat("{\"epoch\":", n)) + "1" + new string('}', n) + "}",
    });

    /// <summary>A valid request of any kind, as the model the parser's result is compared with.</summary>
    public static readonly Gen<(string Type, long? Id, string? Room, string? Token, (string Epoch, long Offset)? Since)> ValidRequest =
        Gen.Select(
            Gen.OneOf("ping", "subscribe", "unsubscribe", "auth", "anything-else"),
            Gen.Long[1, ClientRequestParser.MaxId].Nullable(),
            Gen.Char["abcxyz09:_-."].Array[1, 20].Select(cs => new string(cs)).Null(),
            Gen.String.Null(),
            Gen.Select(Gen.String, Gen.Long[0, long.MaxValue]).Nullable())
        .Select((type, id, room, token, since) => (type, id, room, token, since is { } s ? ((string, long)?)(s.Item1, s.Item2) : null));

    /// <summary>A message that is valid JSON text, almost-valid JSON, or plain garbage: what a fuzzing client sends as text.</summary>
    public static readonly Gen<string> AnyMessage = Gen.Frequency(
        (4, RequestLike),
        (2, Value),
        (1, Deep),
        (1, RequestLike.Select(Gen.Int[0, 200], (s, cut) => s[..Math.Min(cut, s.Length)])),
        (1, Gen.String[0, 40]));

    public static string Write((string Type, long? Id, string? Room, string? Token, (string Epoch, long Offset)? Since) r, string[] extraFields)
    {
        var fields = new List<string> { "\"type\":" + JsonSerializer.Serialize(r.Type) };
        if (r.Id is { } id)
            fields.Add("\"id\":" + id);
        if (r.Room is { } room)
            fields.Add("\"room\":" + JsonSerializer.Serialize(room));
        if (r.Token is { } token)
            fields.Add("\"token\":" + JsonSerializer.Serialize(token));
        if (r.Since is { } since)
            fields.Add($"\"since\":{{\"epoch\":{JsonSerializer.Serialize(since.Epoch)},\"offset\":{since.Offset}}}");
        fields.AddRange(extraFields);
        return "{" + string.Join(",", fields) + "}";
    }

    /// <summary>Unknown fields with any value, to surround a valid request with.</summary>
    public static readonly Gen<string[]> UnknownFields =
        Gen.Select(Gen.Char["abcdefghij_"].Array[1, 8].Select(cs => new string(cs)).Where(k => k is not ("type" or "id" or "room" or "token" or "since")), Value)
            .Select((k, v) => "\"x_" + k + "\":" + v).Array[0, 4];

    // The escaped spellings among Keys go in as written; every other key is encoded.
    private static string KeyJson(string key) => key is "typ\\u0065" or "\\u0000" ? "\"" + key + "\"" : JsonSerializer.Serialize(key);

    public static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
}
