using System.Net;
using System.Text.Json;
using MoltBeat.Server.Tests.Infrastructure;

namespace MoltBeat.Server.Tests;

/// <summary>
/// POST /api/publish with <c>idempotencyKey</c> (protocol 1.1), single and in batches, against the real server process: a
/// repeat replies <c>"duplicate":true</c> with the first offsets and is not delivered again; bad keys are 400 and publish nothing.
/// </summary>
public sealed class IdempotentPublishTests(BatchServer fixture) : IClassFixture<BatchServer>
{
    private static string UniqueRoom() => $"idem:{Guid.NewGuid():N}";

    private static string UniqueKey() => $"key-{Guid.NewGuid():N}";

    private Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(string body) =>
        fixture.Http.CallAsync(ApiRequests.Post("/api/publish", body));

    private Task<WsClient> SubscribedClientAsync(string room) => fixture.Server.SubscribedClientAsync(room);

    /// <summary>Publishes a marker and asserts it is the next event the client gets, at <paramref name="offset"/>: nothing else was delivered.</summary>
    private async Task AssertNextIsMarkerAsync(WsClient client, string room, long offset)
    {
        Assert.Equal(HttpStatusCode.OK, (await PostAsync($$"""{"room":"{{room}}","event":"marker"}""")).Status);
        var next = await client.ReceiveUntilAsync(m => m.GetProperty("type").GetString() == "event");
        Assert.Equal("marker", next.GetProperty("event").GetString());
        Assert.Equal(offset, next.GetProperty("offsets").GetProperty(room).GetInt64());
    }

    private static Dictionary<string, long> Offsets(JsonElement offsets) =>
        offsets.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64());

    [Fact]
    public async Task A_publish_repeating_an_idempotency_key_replies_duplicate_with_the_first_offsets_and_is_delivered_once()
    {
        var room = UniqueRoom();
        await using var client = await SubscribedClientAsync(room);
        var body = $$"""{"room":"{{room}}","event":"order:paid","data":{"n":1},"idempotencyKey":"{{UniqueKey()}}"}""";

        var (firstStatus, first) = await PostAsync(body);
        var (repeatStatus, repeat) = await PostAsync(body);

        Assert.Equal(HttpStatusCode.OK, firstStatus);
        Assert.False(first.TryGetProperty("duplicate", out _), "a first publish says nothing of duplicates");
        Assert.Equal(HttpStatusCode.OK, repeatStatus);
        Assert.True(repeat.GetProperty("published").GetBoolean());
        Assert.True(repeat.GetProperty("duplicate").GetBoolean());
        Assert.Equal(Offsets(first.GetProperty("offsets")), Offsets(repeat.GetProperty("offsets")));
        var evt = await client.ReceiveUntilAsync(m => m.GetProperty("type").GetString() == "event");
        Assert.Equal("order:paid", evt.GetProperty("event").GetString());
        Assert.Equal(1, evt.GetProperty("offsets").GetProperty(room).GetInt64());
        await AssertNextIsMarkerAsync(client, room, 2);
    }

    [Theory]
    [InlineData("\"\"", "1-128 characters, got 0")]
    [InlineData("\"LONG\"", "1-128 characters, got 129")]
    [InlineData("42", "must be a string")]
    [InlineData("[\"k\"]", "must be a string")]
    [InlineData("{}", "must be a string")]
    public async Task A_bad_idempotency_key_is_refused_with_400_and_nothing_is_published(string key, string reason)
    {
        var room = UniqueRoom();
        await using var client = await SubscribedClientAsync(room);
        key = key.Replace("LONG", new string('k', 129), StringComparison.Ordinal);

        var (status, body) = await PostAsync($$"""{"room":"{{room}}","event":"e","idempotencyKey":{{key}}}""");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = body.GetProperty("error").GetString()!;
        Assert.Contains("'idempotencyKey'", error, StringComparison.Ordinal);
        Assert.Contains(reason, error, StringComparison.Ordinal);
        await AssertNextIsMarkerAsync(client, room, 1);
    }

    [Fact]
    public async Task An_idempotency_key_of_128_characters_is_accepted()
    {
        var key = new string('k', 96) + Guid.NewGuid().ToString("N");
        var body = $$"""{"room":"{{UniqueRoom()}}","event":"e","idempotencyKey":"{{key}}"}""";

        var (status, _) = await PostAsync(body);
        var (_, repeat) = await PostAsync(body);

        Assert.Equal(128, key.Length);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(repeat.GetProperty("duplicate").GetBoolean());
    }

    [Fact]
    public async Task A_batch_event_repeating_an_earlier_events_key_is_its_duplicate_and_a_retried_batch_publishes_only_what_had_no_key()
    {
        var room = UniqueRoom();
        await using var client = await SubscribedClientAsync(room);
        var (k1, k2) = (UniqueKey(), UniqueKey());
        string Event(string name, string? key) =>
            $$"""{"room":"{{room}}","event":"{{name}}"{{(key is null ? "" : $",\"idempotencyKey\":\"{key}\"")}}}""";

        var (status, body) = await PostAsync($$"""{"events":[{{Event("a", k1)}},{{Event("b", k2)}},{{Event("c", k1)}},{{Event("d", null)}}]}""");

        Assert.Equal(HttpStatusCode.OK, status);
        var results = body.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal([false, false, true, false], results.Select(r => r.TryGetProperty("duplicate", out var d) && d.GetBoolean()));
        Assert.Equal([1L, 2, 1, 3], results.Select(r => r.GetProperty("offsets").GetProperty(room).GetInt64()));
        Assert.Equal(Offsets(results[0].GetProperty("offsets")), Offsets(results[2].GetProperty("offsets")));
        foreach (var name in new[] { "a", "b", "d" })
            Assert.Equal(name, (await client.ReceiveUntilAsync(m => m.GetProperty("type").GetString() == "event")).GetProperty("event").GetString());

        var (retryStatus, retry) = await PostAsync($$"""{"events":[{{Event("a", k1)}},{{Event("b", k2)}},{{Event("d", null)}}]}""");
        Assert.Equal(HttpStatusCode.OK, retryStatus);
        var retried = retry.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal([true, true, false], retried.Select(r => r.TryGetProperty("duplicate", out var d) && d.GetBoolean()));
        Assert.Equal([1L, 2, 4], retried.Select(r => r.GetProperty("offsets").GetProperty(room).GetInt64()));
        Assert.Equal("d", (await client.ReceiveUntilAsync(m => m.GetProperty("type").GetString() == "event")).GetProperty("event").GetString());
        await AssertNextIsMarkerAsync(client, room, 5);
    }

    [Theory]
    [InlineData("\"\"", "1-128 characters")]
    [InlineData("7", "must be a string")]
    public async Task A_batch_with_a_bad_idempotency_key_is_refused_naming_its_index_and_publishes_nothing(string key, string reason)
    {
        var room = UniqueRoom();
        await using var client = await SubscribedClientAsync(room);

        var (status, body) = await PostAsync($$"""{"events":[{"room":"{{room}}","event":"ok","idempotencyKey":"{{UniqueKey()}}"},{"room":"{{room}}","event":"bad","idempotencyKey":{{key}}}]}""");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = body.GetProperty("error").GetString()!;
        Assert.StartsWith("events[1]: 'idempotencyKey'", error, StringComparison.Ordinal);
        Assert.Contains(reason, error, StringComparison.Ordinal);
        await AssertNextIsMarkerAsync(client, room, 1);
    }

    [Fact]
    public async Task An_idempotency_key_beside_events_is_refused()
    {
        var (status, body) = await PostAsync($$"""{"idempotencyKey":"k","events":[{"room":"{{UniqueRoom()}}","event":"e"}]}""");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("'idempotencyKey' is beside 'events'", body.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_OpenAPI_document_describes_the_idempotency_key_and_the_duplicate_replies()
    {
        using var response = await fixture.Http.GetAsync(new Uri("/openapi/v1.json", UriKind.Relative));
        var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        var schemas = doc.GetProperty("components").GetProperty("schemas");

        Assert.True(schemas.GetProperty("PublishBody").GetProperty("properties").TryGetProperty("idempotencyKey", out _));
        Assert.True(schemas.GetProperty("PublishResult").GetProperty("properties").TryGetProperty("duplicate", out _));
        var item = schemas.GetProperty("PublishBatchResult").GetProperty("properties").GetProperty("results").GetProperty("items");
        Assert.True(item.GetProperty("properties").TryGetProperty("duplicate", out _));
        var description = doc.GetProperty("paths").GetProperty("/api/publish").GetProperty("post").GetProperty("description").GetString();
        Assert.Contains("idempotencyKey", description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_publish_with_a_conflation_key_carries_it_on_the_event_single_and_in_a_batch()
    {
        var room = UniqueRoom();
        await using var client = await SubscribedClientAsync(room);

        var (single, _) = await PostAsync($$"""{"room":"{{room}}","event":"metrics:updated","data":{"n":1},"key":"cpu"}""");
        var (batch, _) = await PostAsync($$"""{"events":[{"room":"{{room}}","event":"metrics:updated","key":"rps"},{"room":"{{room}}","event":"note"}]}""");

        Assert.Equal(HttpStatusCode.OK, single);
        Assert.Equal(HttpStatusCode.OK, batch);
        var keys = new List<string?>();
        for (var i = 0; i < 3; i++)
        {
            var evt = await client.ReceiveUntilAsync(m => m.GetProperty("type").GetString() == "event");
            keys.Add(evt.TryGetProperty("key", out var k) ? k.GetString() : null);
        }
        Assert.Equal(["cpu", "rps", null], keys);
    }

    [Theory]
    [InlineData("\"\"", "1-128 characters, got 0")]
    [InlineData("7", "must be a string")]
    public async Task A_bad_conflation_key_is_400_naming_it_and_publishes_nothing(string key, string expected)
    {
        var room = UniqueRoom();
        await using var client = await SubscribedClientAsync(room);

        var (status, body) = await PostAsync($$"""{"room":"{{room}}","event":"metrics:updated","key":{{key}}}""");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("'key'", body.ToString(), StringComparison.Ordinal);
        Assert.Contains(expected, body.ToString(), StringComparison.Ordinal);
        await AssertNextIsMarkerAsync(client, room, 1);
    }
}
