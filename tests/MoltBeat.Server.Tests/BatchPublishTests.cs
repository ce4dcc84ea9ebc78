using System.Net;
using System.Text.Json;
using MoltBeat.Server.Tests.Infrastructure;

namespace MoltBeat.Server.Tests;

/// <summary>
/// One real server for the batch tests: credentials as <see cref="SecuredServer"/>, but the default body
/// limit (128 KiB), which a batch of over 1000 small events fits in, so that the event count is what refuses it.
/// </summary>
public sealed class BatchServer : IAsyncLifetime
{
    public ServerProcess Server { get; private set; } = null!;

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(10) };

    public async Task InitializeAsync()
    {
        Server = await ServerProcess.StartAsync("--api-key", SecuredServer.ApiKey, "--jwt-secret", SecuredServer.Secret, "--max-payload-size", "2048");
        Http.BaseAddress = Server.HttpUrl;
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
    }
}

/// <summary>POST /api/publish with <c>{"events":[...]}</c> (protocol 1.1): in order, each one's offsets, all or nothing.</summary>
public sealed class BatchPublishTests(BatchServer fixture) : IClassFixture<BatchServer>
{
    private static string UniqueRoom(string prefix = "batch") => $"{prefix}:{Guid.NewGuid():N}";

    private Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(string body, string? apiKey = SecuredServer.ApiKey, string? bearer = null) =>
        fixture.Http.CallAsync(ApiRequests.Post("/api/publish", body, apiKey, bearer));

    private Task<WsClient> SubscribedClientAsync(string room) => fixture.Server.SubscribedClientAsync(room);

    private static string Batch(IEnumerable<string> events) => $$"""{"events":[{{string.Join(",", events)}}]}""";

    /// <summary>Publishes a marker and asserts it is the first event the client gets, at offset 1: nothing was published before it.</summary>
    private async Task AssertNothingWasPublishedAsync(WsClient client, string room)
    {
        Assert.Equal(HttpStatusCode.OK, (await PostAsync($$"""{"room":"{{room}}","event":"marker"}""")).Status);
        var first = await client.ReceiveUntilAsync(m => m.GetProperty("type").GetString() == "event");
        Assert.Equal("marker", first.GetProperty("event").GetString());
        Assert.Equal(1, first.GetProperty("offsets").GetProperty(room).GetInt64());
    }

    [Fact]
    public async Task Batch_publish_delivers_every_event_in_order_and_returns_each_ones_offsets()
    {
        var parent = UniqueRoom();
        await using var client = await SubscribedClientAsync(parent);
        var (status, body) = await PostAsync(Batch(
        [
            $$$"""{"room":"{{{parent}}}:agents","event":"agent:created","data":{"id":"a1"}}""",
            $$"""{"rooms":["{{parent}}:agents","{{parent}}:tasks"],"event":"both","data":[1,2]}""",
            $$"""{"room":"{{parent}}:tasks","event":"task:done"}""",
        ]));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(body.GetProperty("published").GetBoolean());
        var results = body.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("offsets")).ToList();
        Assert.Equal(3, results.Count);
        Assert.Equal([1L, 2, 3], results.Select(o => o.GetProperty(parent).GetInt64()));
        Assert.Equal([1L, 2], results.Take(2).Select(o => o.GetProperty(parent + ":agents").GetInt64()));
        Assert.Equal([1L, 2], results.Skip(1).Select(o => o.GetProperty(parent + ":tasks").GetInt64()));
        Assert.False(results[0].TryGetProperty(parent + ":tasks", out _));
        Assert.True(results[0].GetProperty("all").GetInt64() < results[1].GetProperty("all").GetInt64());

        string[] names = ["agent:created", "both", "task:done"];
        for (var i = 0; i < names.Length; i++)
        {
            var evt = await client.ReceiveUntilAsync(m => m.GetProperty("type").GetString() == "event");
            Assert.Equal(names[i], evt.GetProperty("event").GetString());
            Assert.Equal(results[i].GetProperty(parent).GetInt64(), evt.GetProperty("offsets").GetProperty(parent).GetInt64());
        }
    }

    [Theory]
    [InlineData("""{"room":"bad room!","event":"e"}""", "Invalid room")]
    [InlineData("""{"room":"ROOM"}""", "'event'")]
    [InlineData("""{"room":"ROOM","event":""}""", "event name")]
    [InlineData("""{"room":"ROOM","event":"e","data":"PAYLOAD"}""", "limit")]
    [InlineData("""[1]""", "JSON object")]
    public async Task Batch_with_one_bad_event_is_refused_with_its_index_and_publishes_nothing(string bad, string reason)
    {
        var room = UniqueRoom();
        await using var client = await SubscribedClientAsync(room);
        var ok = $$"""{"room":"{{room}}","event":"ok"}""";
        var (status, body) = await PostAsync(Batch([ok, ok, bad.Replace("ROOM", room, StringComparison.Ordinal).Replace("PAYLOAD", new string('x', 3000), StringComparison.Ordinal), ok]));

        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = body.GetProperty("error").GetString()!;
        Assert.StartsWith("events[2]: ", error, StringComparison.Ordinal);
        Assert.Contains(reason, error, StringComparison.Ordinal);
        await AssertNothingWasPublishedAsync(client, room);
    }

    [Fact]
    public async Task Batch_over_1000_events_is_refused()
    {
        var room = UniqueRoom();
        await using var client = await SubscribedClientAsync(room);
        var one = $$"""{"room":"{{room}}","event":"e"}""";

        var (status, body) = await PostAsync(Batch(Enumerable.Repeat(one, 1001)));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("1000", body.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync("""{"events":[]}""")).Status);
        await AssertNothingWasPublishedAsync(client, room);

        // The limit itself is allowed.
        var elsewhere = UniqueRoom();
        var (okStatus, ok) = await PostAsync(Batch(Enumerable.Repeat($$"""{"room":"{{elsewhere}}","event":"e"}""", 1000)));
        Assert.Equal(HttpStatusCode.OK, okStatus);
        Assert.Equal(1000, ok.GetProperty("results").GetArrayLength());
        Assert.Equal(1000, ok.GetProperty("results")[999].GetProperty("offsets").GetProperty(elsewhere).GetInt64());
    }

    [Fact]
    public async Task Batch_publish_needs_the_same_credentials_as_a_single_publish()
    {
        var batch = Batch([$$"""{"room":"{{UniqueRoom()}}","event":"e"}"""]);
        Assert.Equal(HttpStatusCode.Unauthorized, (await PostAsync(batch, apiKey: null)).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(batch, apiKey: null, bearer: Jwt.Create(SecuredServer.Secret, "svc", scope: "read"))).Status);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(batch, apiKey: null, bearer: Jwt.Create(SecuredServer.Secret, "svc", scope: "publish"))).Status);
    }

    [Theory]
    [InlineData("""{"events":{"room":"a","event":"e"}}""", "'events'")]
    [InlineData("""{"room":"a","events":[{"room":"a","event":"e"}]}""", "either")]
    public async Task Malformed_batches_get_400_with_a_reason(string body, string reason)
    {
        var (status, error) = await PostAsync(body);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(reason, error.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_OpenAPI_document_describes_the_batch_form_of_publish()
    {
        using var response = await fixture.Http.GetAsync(new Uri("/openapi/v1.json", UriKind.Relative));
        var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        var publish = doc.GetProperty("paths").GetProperty("/api/publish").GetProperty("post");
        static IEnumerable<string?> Alternatives(JsonElement content) =>
            content.GetProperty("application/json").GetProperty("schema").GetProperty("oneOf").EnumerateArray().Select(s => s.GetProperty("$ref").GetString());
        Assert.Equal(["#/components/schemas/PublishBody", "#/components/schemas/PublishBatchBody"], Alternatives(publish.GetProperty("requestBody").GetProperty("content")));
        Assert.Equal(["#/components/schemas/PublishResult", "#/components/schemas/PublishBatchResult"], Alternatives(publish.GetProperty("responses").GetProperty("200").GetProperty("content")));
        var schemas = doc.GetProperty("components").GetProperty("schemas");
        Assert.True(schemas.GetProperty("PublishBatchBody").GetProperty("properties").TryGetProperty("events", out _));
        Assert.True(schemas.GetProperty("PublishBatchResult").GetProperty("properties").TryGetProperty("results", out _));
    }
}
