using System.Net;
using System.Text;
using System.Text.Json;
using MoltBeat.Server.Tests.Infrastructure;
using static MoltBeat.Server.Tests.Infrastructure.ApiRequests;

namespace MoltBeat.Server.Tests;

/// <summary>One real server with an API key and a JWT secret, shared by the API tests.</summary>
public sealed class SecuredServer : IAsyncLifetime
{
    public const string ApiKey = "test-api-key-0123456789";
    public const string Secret = "server-tests-secret-0123456789abcdef";

    public ServerProcess Server { get; private set; } = null!;

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(10) };

    public async Task InitializeAsync()
    {
        Server = await ServerProcess.StartAsync("--api-key", ApiKey, "--jwt-secret", Secret, "--max-body-size", "4096", "--max-payload-size", "2048");
        Http.BaseAddress = Server.HttpUrl;
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
    }
}

public sealed class ApiTests(SecuredServer fixture) : IClassFixture<SecuredServer>
{
    private HttpClient Http => fixture.Http;

    private Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(HttpRequestMessage request) => Http.CallAsync(request);

    private Task<WsClient> ConnectAsync() =>
        WsClient.ConnectAsync(fixture.Server.WsUrl("?token=" + Jwt.Create(SecuredServer.Secret, "viewer")));

    [Fact]
    public async Task Publish_with_the_api_key_reaches_subscribers_and_returns_offsets()
    {
        await using var client = await ConnectAsync();
        await client.SubscribeAsync("analytics");
        var (status, body) = await SendAsync(Post("/api/publish", """{"room":"analytics:agents","event":"agent:created","data":{"id":"a1"}}"""));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(body.GetProperty("published").GetBoolean());
        var offsets = body.GetProperty("offsets");
        Assert.True(offsets.GetProperty("analytics:agents").GetInt64() >= 1);
        Assert.True(offsets.GetProperty("analytics").GetInt64() >= 1);
        Assert.True(offsets.GetProperty("all").GetInt64() >= 1);
        var evt = await client.ReceiveEventAsync("agent:created");
        Assert.Equal("analytics:agents", evt.GetProperty("room").GetString());
        Assert.Equal("a1", evt.GetProperty("data").GetProperty("id").GetString());
    }

    [Fact]
    public async Task Publish_to_several_rooms_is_delivered_once()
    {
        await using var client = await ConnectAsync();
        await client.SubscribeAsync("all");
        var (status, body) = await SendAsync(Post("/api/publish", """{"rooms":["agent:7","analytics:agents"],"event":"multi","data":1}"""));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(body.GetProperty("offsets").TryGetProperty("agent:7", out _));
        var evt = await client.ReceiveEventAsync("multi");
        Assert.Equal(["agent:7", "analytics:agents"], evt.GetProperty("rooms").EnumerateArray().Select(r => r.GetString()));
        await SendAsync(Post("/api/publish", """{"room":"agent:7","event":"after","data":2}"""));
        // The next event is "after": "multi" came once, though two subscribed rooms matched.
        var next = await client.ReceiveUntilAsync(m => m.GetProperty("type").GetString() == "event");
        Assert.Equal("after", next.GetProperty("event").GetString());
    }

    [Fact]
    public async Task A_rooms_position_and_subscribers_are_read_over_http_with_the_subscribe_rights()
    {
        var tenant = $"tenant:{Guid.NewGuid():N}";
        var room = tenant + ":metrics";
        var (status, fresh) = await SendAsync(Get($"/api/rooms/{room}"));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(0, fresh.GetProperty("offset").GetInt64());
        await using var client = await ConnectAsync();
        await client.SubscribeAsync(room);
        for (var n = 1; n <= 2; n++)
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(Post("/api/publish", $$"""{"room":"{{room}}","event":"tick","data":{{n}}}"""))).Status);
        var last = await client.ReceiveUntilAsync(m => m.GetProperty("type").GetString() == "event" && m.GetProperty("data").GetInt32() == 2);

        var (_, info) = await SendAsync(Get($"/api/rooms/{room}"));
        Assert.Equal(room, info.GetProperty("room").GetString());
        Assert.Equal(fresh.GetProperty("epoch").GetString(), info.GetProperty("epoch").GetString());
        Assert.Equal(last.GetProperty("offsets").GetProperty(room).GetInt64(), info.GetProperty("offset").GetInt64());
        Assert.Equal(2, info.GetProperty("offset").GetInt64());
        Assert.Equal(1, info.GetProperty("subscribers").GetInt32());

        // A bearer token reads the rooms it may subscribe to, and no others; without credentials, nothing.
        var token = Jwt.Create(SecuredServer.Secret, new Dictionary<string, object>
        {
            ["sub"] = "dashboard",
            ["rooms"] = new[] { tenant },
            ["exp"] = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds(),
        });
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(Get($"/api/rooms/{room}", apiKey: null, bearer: token))).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(Get("/api/rooms/analytics", apiKey: null, bearer: token))).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(Get($"/api/rooms/{room}", apiKey: null))).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(Get("/api/rooms/bad%20room"))).Status);
    }

    [Fact]
    public async Task Publish_with_a_bearer_token_is_bounded_by_its_rooms_claim()
    {
        var tenant = $"tenant:{Guid.NewGuid():N}";
        var token = Jwt.Create(SecuredServer.Secret, new Dictionary<string, object>
        {
            ["sub"] = "svc",
            ["scope"] = "publish",
            ["rooms"] = new[] { tenant },
            ["exp"] = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds(),
        });
        var (allowed, _) = await SendAsync(Post("/api/publish", $$"""{"room":"{{tenant}}:agents","event":"e"}""", apiKey: null, bearer: token));
        Assert.Equal(HttpStatusCode.OK, allowed);
        var (outside, error) = await SendAsync(Post("/api/publish", $$"""{"rooms":["{{tenant}}","analytics"],"event":"e"}""", apiKey: null, bearer: token));
        Assert.Equal(HttpStatusCode.Forbidden, outside);
        Assert.Contains("'analytics'", error.GetProperty("error").GetString(), StringComparison.Ordinal);
        var (batch, batchError) = await SendAsync(Post("/api/publish", $$"""{"events":[{"room":"{{tenant}}","event":"e"},{"room":"other","event":"e"}]}""", apiKey: null, bearer: token));
        Assert.Equal(HttpStatusCode.Forbidden, batch);
        Assert.Contains("events[1]", batchError.GetProperty("error").GetString(), StringComparison.Ordinal);
        var (broadcast, _) = await SendAsync(Post("/api/broadcast", """{"event":"e"}""", apiKey: null, bearer: token));
        Assert.Equal(HttpStatusCode.Forbidden, broadcast);
    }

    [Fact]
    public async Task Publish_with_a_bearer_token_needs_the_publish_scope()
    {
        var publisher = Jwt.Create(SecuredServer.Secret, "svc", scope: "read publish");
        var reader = Jwt.Create(SecuredServer.Secret, "svc", scope: "read");
        var forged = Jwt.Create("another-secret-0123456789abcdefghijkl", "svc", scope: "publish");
        const string body = """{"room":"system","event":"jwt:test","data":null}""";
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(Post("/api/publish", body, apiKey: null, bearer: publisher))).Status);
        var (status, error) = await SendAsync(Post("/api/publish", body, apiKey: null, bearer: reader));
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("publish", error.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(Post("/api/publish", body, apiKey: null, bearer: forged))).Status);
    }

    [Fact]
    public async Task Unauthenticated_requests_get_401()
    {
        using var request = Post("/api/publish", """{"room":"a","event":"e"}""", apiKey: null);
        using var response = await Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.NotEmpty(response.Headers.WwwAuthenticate);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(Post("/api/publish", """{"room":"a","event":"e"}""", apiKey: "wrong-key-0123456789"))).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(Post("/api/broadcast", """{"event":"e"}""", apiKey: null))).Status);
    }

    [Theory]
    [InlineData("""{"room":"a","event":""", "Malformed JSON")]
    [InlineData("""[1,2]""", "JSON object")]
    [InlineData("""{"event":"e"}""", "'room'")]
    [InlineData("""{"room":5,"event":"e"}""", "'room'")]
    [InlineData("""{"rooms":["a",3],"event":"e"}""", "'rooms'")]
    [InlineData("""{"room":"a"}""", "'event'")]
    [InlineData("""{"room":"bad room!","event":"e"}""", "Invalid room")]
    [InlineData("""{"room":"a","event":""}""", "event name")]
    public async Task Invalid_publishes_get_400_with_a_reason(string body, string reason)
    {
        var (status, error) = await SendAsync(Post("/api/publish", body));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(reason, error.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Oversized_bodies_get_413_with_or_without_content_length()
    {
        // Raw HTTP, reading the answer before sending the oversized body: an HTTP client that is still
        // writing a body the server refused may see the connection cut instead of the 413 (a race in HTTP/1.1).
        Assert.Equal(413, await RawStatusAsync(
            $"POST /api/publish HTTP/1.1\r\nHost: x\r\nX-Api-Key: {SecuredServer.ApiKey}\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"));
        var chunk = $$"""{"room":"a","event":"e","data":"{{new string('x', 10_000)}}"}""";
        Assert.Equal(413, await RawStatusAsync(
            $"POST /api/publish HTTP/1.1\r\nHost: x\r\nX-Api-Key: {SecuredServer.ApiKey}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{chunk.Length:x}\r\n{chunk}\r\n"));

        // Under the body limit but over the payload limit: refused by the server as a bad request.
        var payload = $$"""{"room":"a","event":"e","data":"{{new string('x', 3000)}}"}""";
        var (status, error) = await SendAsync(Post("/api/publish", payload));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("limit", error.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    private async Task<int> RawStatusAsync(string request)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await tcp.ConnectAsync(fixture.Server.HttpUrl.Host, fixture.Server.HttpUrl.Port, cts.Token);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), cts.Token);
        var buffer = new byte[256];
        var read = await stream.ReadAsync(buffer, cts.Token);
        var statusLine = Encoding.ASCII.GetString(buffer, 0, read).Split("\r\n")[0];
        return int.Parse(statusLine.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Non_json_bodies_get_415()
    {
        var (status, _) = await SendAsync(Post("/api/publish", """{"room":"a","event":"e"}""", contentType: "text/plain"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, status);
    }

    [Fact]
    public async Task Broadcast_reaches_every_client_without_a_subscription()
    {
        await using var client = await ConnectAsync();
        var (status, _) = await SendAsync(Post("/api/broadcast", """{"event":"maintenance","data":{"in":5}}"""));
        Assert.Equal(HttpStatusCode.OK, status);
        var evt = await client.ReceiveEventAsync("maintenance");
        Assert.False(evt.TryGetProperty("room", out _));
    }

    [Fact]
    public async Task Health_reports_liveness_readiness_and_the_engine()
    {
        var (status, body) = await SendAsync(new HttpRequestMessage(HttpMethod.Get, "/api/health"));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("ok", body.GetProperty("status").GetString());
        Assert.True(body.GetProperty("live").GetBoolean());
        Assert.True(body.GetProperty("ready").GetBoolean());
        Assert.Equal("memory", body.GetProperty("engine").GetProperty("name").GetString());
        Assert.True(body.GetProperty("engine").GetProperty("healthy").GetBoolean());
        Assert.True(body.GetProperty("uptimeSeconds").GetInt64() >= 0);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(new HttpRequestMessage(HttpMethod.Get, "/api/health/live"))).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(new HttpRequestMessage(HttpMethod.Get, "/api/health/ready"))).Status);
        var (_, info) = await SendAsync(new HttpRequestMessage(HttpMethod.Get, "/api/info"));
        Assert.True(info.GetProperty("authRequired").GetBoolean());
        Assert.Equal("/ws", info.GetProperty("path").GetString());
    }

    [Fact]
    public async Task Stats_count_clients_and_room_subscribers()
    {
        await using var client = await ConnectAsync();
        await client.SubscribeAsync("alerts:critical");
        var (status, body) = await SendAsync(new HttpRequestMessage(HttpMethod.Get, "/api/stats"));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(body.GetProperty("totalClients").GetInt32() >= 1);
        Assert.Contains(body.GetProperty("rooms").EnumerateArray(), r => r.GetProperty("room").GetString() == "alerts:critical" && r.GetProperty("subscribers").GetInt32() >= 1);
    }

    [Fact]
    public async Task The_OpenAPI_document_describes_the_api()
    {
        var (status, doc) = await SendAsync(new HttpRequestMessage(HttpMethod.Get, "/openapi/v1.json"));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.StartsWith("3.", doc.GetProperty("openapi").GetString(), StringComparison.Ordinal);
        var paths = doc.GetProperty("paths");
        foreach (var path in (string[])["/api/publish", "/api/broadcast", "/api/stats", "/api/health"])
            Assert.True(paths.TryGetProperty(path, out _), path + " missing");
        var publish = paths.GetProperty("/api/publish").GetProperty("post");
        Assert.True(publish.GetProperty("requestBody").GetProperty("content").TryGetProperty("application/json", out _));
        foreach (var code in (string[])["200", "400", "401", "413"])
            Assert.True(publish.GetProperty("responses").TryGetProperty(code, out _), code + " missing");
        var schemes = doc.GetProperty("components").GetProperty("securitySchemes");
        Assert.Equal("X-Api-Key", schemes.GetProperty("ApiKey").GetProperty("name").GetString());
        Assert.Equal("bearer", schemes.GetProperty("Bearer").GetProperty("scheme").GetString());
    }

    [Fact]
    public async Task Metrics_export_moltbeat_series_after_a_publish()
    {
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(Post("/api/publish", """{"room":"analytics:metrics","event":"metrics:updated","data":{}}"""))).Status);
        await using var client = await ConnectAsync();
        string text = "";
        for (var i = 0; i < 50 && !(text.Contains("moltbeat_events_published_total", StringComparison.Ordinal) && text.Contains("moltbeat_connections", StringComparison.Ordinal)); i++)
        {
            using var response = await Http.GetAsync(new Uri("/metrics", UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            text = await response.Content.ReadAsStringAsync();
            await Task.Delay(100);
        }
        Assert.Contains("moltbeat_events_published_total", text, StringComparison.Ordinal);
        Assert.Contains("moltbeat_connections", text, StringComparison.Ordinal);
        var published = text.Split('\n').First(l => l.StartsWith("moltbeat_events_published_total", StringComparison.Ordinal));
        Assert.True(double.Parse(published.Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture) >= 1, published);
    }
}
