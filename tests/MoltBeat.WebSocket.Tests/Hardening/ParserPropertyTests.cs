using System.Text;
using System.Text.Json;
using CsCheck;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Tests.Hardening;

/// <summary>
/// Properties of <see cref="ClientRequestParser.Parse"/> over inputs no honest client sends: whatever the
/// bytes, no exception escapes and the answer is a request or a <c>bad_request</c> error, never both.
/// </summary>
public sealed class ParserPropertyTests
{
    /// <summary>The invariants every parse result keeps, whatever the input.</summary>
    internal static void AssertWellFormed(ReadOnlySpan<byte> input, ClientRequestParser.Result result)
    {
        Assert.True(result.Request is null != (result.Error is null), "exactly one of Request and Error");
        if (result.Id is { } id)
            Assert.InRange(id, 1, ClientRequestParser.MaxId);
        if (result.Request is { } request)
        {
            Assert.NotNull(request.Type);
            Assert.Equal(result.Id, request.Id);
            if (request.Since is { } since)
                Assert.True(since.Offset >= 0);
            // What the parser accepts, a standard JSON parser accepts too, as an object whose 'type' is that string.
            using var document = JsonDocument.Parse(input.ToArray());
            Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
            Assert.Contains(document.RootElement.EnumerateObject(), p => p.NameEquals("type") && p.Value.ValueKind == JsonValueKind.String && SafeEquals(p.Value, request.Type));
        }
        else
        {
            Assert.False(string.IsNullOrWhiteSpace(result.Error));
        }
    }

    // JsonElement throws on a lone surrogate escape in the value, as Utf8JsonReader does.
    private static bool SafeEquals(JsonElement value, string text)
    {
        try
        {
            return value.ValueEquals(text);
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static ClientRequestParser.Result ParseChecked(byte[] input)
    {
        var result = ClientRequestParser.Parse(input);
        AssertWellFormed(input, result);
        return result;
    }

    [Fact]
    public void Parse_never_throws_on_arbitrary_bytes_and_answers_a_request_or_an_error() =>
        Gen.Frequency(
                (3, Gen.Byte.Array[0, 300]),
                // Arbitrary bytes inside a plausible frame, so the parser gets past the first token.
                (2, Gen.Byte.Array[0, 40].Select(b => Encoding.UTF8.GetBytes("{\"type\":\"ping\",\"id\":").Concat(b).Append((byte)'}').ToArray())),
                (2, Gen.Byte.Array[0, 40].Select(b => Encoding.UTF8.GetBytes("{\"type\":\"").Concat(b).Concat("\",\"id\":7}"u8.ToArray()).ToArray())))
            .Sample(input => { ParseChecked(input); }, iter: Fuzz.Iter(3000), time: Fuzz.Time, print: Convert.ToHexString);

    [Fact]
    public void Parse_never_throws_on_arbitrary_json_and_accepts_only_objects_with_a_string_type() =>
        Gen.Frequency((4, JsonGen.RequestLike), (2, JsonGen.Value), (1, JsonGen.Deep))
            .Sample(json =>
            {
                var result = ParseChecked(JsonGen.Utf8(json));
                if (result.Error is not null && result.Id is null && json.StartsWith("{\"id\":", StringComparison.Ordinal) && json.IndexOf("\"id\"", 1, StringComparison.Ordinal) < 0 && long.TryParse(json.AsSpan(6, json.IndexOfAny([',', '}']) - 6), out var first) && first is >= 1 and <= ClientRequestParser.MaxId)
                    Assert.Fail("a readable leading id must be echoed on the error");
            }, iter: Fuzz.Iter(3000), time: Fuzz.Time);

    [Fact]
    public void Parse_reads_every_well_formed_request_whatever_unknown_fields_surround_it() =>
        Gen.Select(JsonGen.ValidRequest, JsonGen.UnknownFields)
            .Sample((request, extra) =>
            {
                var parsed = ParseChecked(JsonGen.Utf8(JsonGen.Write(request, extra)));
                Assert.Null(parsed.Error);
                var r = parsed.Request!;
                Assert.Equal(request.Type, r.Type);
                Assert.Equal(request.Id, r.Id);
                Assert.Equal(request.Room, r.Room);
                Assert.Equal(request.Token, r.Token);
                Assert.Equal(request.Since is { } s ? new StreamPosition(s.Epoch, s.Offset) : null, r.Since);
            }, iter: Fuzz.Iter(2000), time: Fuzz.Time);

    [Theory]
    [InlineData(17)]
    [InlineData(1_000)]
    [InlineData(100_000)]
    public void Parse_refuses_nesting_past_16_levels_with_bad_request(int depth)
    {
        var json = "{\"type\":\"ping\",\"id\":3,\"x\":" + new string('[', depth) + new string(']', depth) + "}";
        var result = ParseChecked(JsonGen.Utf8(json));
        Assert.Equal("malformed JSON", result.Error);
        Assert.Equal(3, result.Id);
    }

    [Theory]
    [InlineData("{\"type\":\"\\ud800\",\"id\":1}")]
    [InlineData("{\"type\":\"ping\",\"room\":\"\\udc00\"}")]
    [InlineData("{\"type\":\"auth\",\"token\":\"a\\ud83d\"}")]
    [InlineData("{\"type\":\"subscribe\",\"room\":\"a\",\"since\":{\"epoch\":\"\\ud800\",\"offset\":1}}")]
    public void String_with_a_lone_surrogate_escape_gets_bad_request(string json)
    {
        var result = ParseChecked(JsonGen.Utf8(json));
        Assert.NotNull(result.Error);
    }

    [Theory]
    [InlineData(new byte[] { 0x7b, 0x22, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d })] // {"type":"\xff"}
    [InlineData(new byte[] { 0x7b, 0x22, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0xc0, 0x80, 0x22, 0x7d })] // overlong NUL
    [InlineData(new byte[] { 0x7b, 0x22, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d })] // UTF-8 encoded surrogate
    public void String_of_invalid_utf8_gets_bad_request(byte[] input)
    {
        // Over a socket the WebSocket layer refuses these with 1007 first; the parser must not rely on it.
        var result = ParseChecked(input);
        Assert.NotNull(result.Error);
    }

    [Theory]
    [InlineData("{\"type\":\"ping\",\"type\":\"subscribe\",\"room\":\"a\"}", "subscribe")]
    [InlineData("{\"type\":\"ping\",\"id\":1,\"id\":2}", "ping")]
    public void Duplicate_keys_keep_the_last_value(string json, string type)
    {
        var result = ParseChecked(JsonGen.Utf8(json));
        Assert.Equal(type, result.Request?.Type);
    }

    [Theory]
    [InlineData("{\"type\":\"ping\",\"id\":1e400}")]
    [InlineData("{\"type\":\"ping\",\"id\":100000000000000000000000000000000000000000}")]
    [InlineData("{\"type\":\"subscribe\",\"room\":\"a\",\"since\":{\"epoch\":\"e\",\"offset\":1e400}}")]
    [InlineData("{\"type\":\"subscribe\",\"room\":\"a\",\"since\":{\"epoch\":\"e\",\"offset\":-1}}")]
    public void Huge_or_negative_numbers_get_bad_request(string json) =>
        Assert.NotNull(ParseChecked(JsonGen.Utf8(json)).Error);
}
