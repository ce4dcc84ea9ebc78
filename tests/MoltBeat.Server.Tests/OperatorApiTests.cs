using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using MoltBeat.Server.Tests.Infrastructure;

namespace MoltBeat.Server.Tests;

/// <summary>The operator API (protocol 1.1, revocation): POST /api/revoke and /api/unsubscribe, X-Api-Key only.</summary>
public sealed class OperatorApiTests(SecuredServer fixture) : IClassFixture<SecuredServer>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private HttpClient Http => fixture.Http;

    private static HttpRequestMessage Post(string path, string body, string? apiKey = SecuredServer.ApiKey, string? bearer = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (apiKey is not null)
            request.Headers.Add("X-Api-Key", apiKey);
        if (bearer is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return request;
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseHeaders Headers)> SendAsync(HttpClient http, HttpRequestMessage request)
    {
        using (request)
        {
            using var response = await http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone(), response.Headers);
        }
    }

    private Task<(HttpStatusCode Status, JsonElement Body, HttpResponseHeaders Headers)> SendAsync(HttpRequestMessage request) => SendAsync(Http, request);

    private static string UniqueUser() => "op" + Guid.NewGuid().ToString("N")[..10];

    /// <summary>Opens a WebSocket with <paramref name="token"/> and returns the close code the server ends it with, before any message.</summary>
    private async Task<WebSocketCloseStatus?> CloseCodeAtConnectAsync(string token)
    {
        using var socket = new ClientWebSocket();
        using var cts = new CancellationTokenSource(Wait);
        await socket.ConnectAsync(fixture.Server.WsUrl("?token=" + token), cts.Token);
        var result = await socket.ReceiveAsync(new byte[4096], cts.Token);
        Assert.Equal(WebSocketMessageType.Close, result.MessageType);
        return socket.CloseStatus;
    }

    [Fact]
    public async Task Revoke_with_the_api_key_closes_the_users_connections_with_4003_and_refuses_its_tokens()
    {
        var user = UniqueUser();
        var token = Jwt.Create(SecuredServer.Secret, user); // no iat: refused while the revocation is kept
        await using var revoked = await WsClient.ConnectAsync(fixture.Server.WsUrl("?token=" + token));
        await using var bystander = await WsClient.ConnectAsync(fixture.Server.WsUrl("?token=" + Jwt.Create(SecuredServer.Secret, UniqueUser())));

        var (status, body, _) = await SendAsync(Post("/api/revoke", $$"""{"user":"{{user}}"}"""));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(body.GetProperty("revoked").GetBoolean());
        Assert.Equal(user, body.GetProperty("user").GetString());
        Assert.Equal(4003, (int)(await revoked.ReceiveCloseAsync(Wait))!);
        Assert.Equal(4001, (int)(await CloseCodeAtConnectAsync(token))!);
        await bystander.SubscribeAsync("analytics");
    }

    [Fact]
    public async Task Unsubscribe_with_the_api_key_removes_the_room_and_its_subtree_with_reason_revoked()
    {
        var user = UniqueUser();
        var tenant = "tenant" + Guid.NewGuid().ToString("N")[..8];
        await using var client = await WsClient.ConnectAsync(fixture.Server.WsUrl("?token=" + Jwt.Create(SecuredServer.Secret, user)));
        await client.SubscribeAsync(tenant + ":7:agents");
        await client.SubscribeAsync(tenant + ":8");

        var (status, body, _) = await SendAsync(Post("/api/unsubscribe", $$"""{"user":"{{user}}","room":"{{tenant}}:7"}"""));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(body.GetProperty("unsubscribed").GetBoolean());
        var removed = await client.ReceiveUntilAsync(m => m.GetProperty("type").GetString() == "unsubscribed");
        Assert.Equal(tenant + ":7:agents", removed.GetProperty("room").GetString());
        Assert.Equal("revoked", removed.GetProperty("reason").GetString());
        await SendAsync(Post("/api/publish", $$"""{"room":"{{tenant}}:7:agents","event":"gone","data":1}"""));
        await SendAsync(Post("/api/publish", $$"""{"room":"{{tenant}}:8","event":"kept","data":2}"""));
        var next = await client.ReceiveUntilAsync(m => m.GetProperty("type").GetString() == "event");
        Assert.Equal("kept", next.GetProperty("event").GetString());
    }

    [Fact]
    public async Task Operator_endpoints_need_the_api_key_and_take_no_bearer_token()
    {
        var publisher = Jwt.Create(SecuredServer.Secret, "svc", scope: "publish");
        foreach (var (path, body) in new[] { ("/api/revoke", """{"user":"1"}"""), ("/api/unsubscribe", """{"user":"1","room":"a"}""") })
        {
            var (none, error, headers) = await SendAsync(Post(path, body, apiKey: null));
            Assert.Equal(HttpStatusCode.Unauthorized, none);
            Assert.Contains("X-Api-Key", error.GetProperty("error").GetString(), StringComparison.Ordinal);
            Assert.NotEmpty(headers.WwwAuthenticate);
            Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(Post(path, body, apiKey: "wrong-key-0123456789"))).Status);
            Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(Post(path, body, apiKey: null, bearer: publisher))).Status);
        }
    }

    [Theory]
    [InlineData("/api/revoke", """{"user":""", "Malformed JSON")]
    [InlineData("/api/revoke", """[1]""", "JSON object")]
    [InlineData("/api/revoke", """{}""", "'user'")]
    [InlineData("/api/revoke", """{"user":""}""", "'user'")]
    [InlineData("/api/revoke", """{"user":42}""", "'user'")]
    [InlineData("/api/unsubscribe", """{"room":"a"}""", "'user'")]
    [InlineData("/api/unsubscribe", """{"user":"42"}""", "'room'")]
    [InlineData("/api/unsubscribe", """{"user":"42","room":7}""", "'room'")]
    [InlineData("/api/unsubscribe", """{"user":"42","room":"bad room!"}""", "Invalid room")]
    public async Task Operator_endpoints_refuse_bad_bodies_with_400_and_a_reason(string path, string body, string reason)
    {
        var (status, error, _) = await SendAsync(Post(path, body));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(reason, error.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_OpenAPI_document_lists_the_operator_endpoints()
    {
        var (status, doc, _) = await SendAsync(new HttpRequestMessage(HttpMethod.Get, "/openapi/v1.json"));
        Assert.Equal(HttpStatusCode.OK, status);
        foreach (var path in (string[])["/api/revoke", "/api/unsubscribe"])
        {
            var post = doc.GetProperty("paths").GetProperty(path).GetProperty("post");
            foreach (var code in (string[])["200", "400", "401", "503"])
                Assert.True(post.GetProperty("responses").TryGetProperty(code, out _), $"{path} {code} missing");
        }
    }
}

/// <summary>Without an API key the operator API is off, whatever else is configured: it is never open.</summary>
public sealed class OperatorApiWithoutKeyTests
{
    [Fact]
    public async Task Without_an_api_key_the_operator_endpoints_answer_503_and_revoke_nothing()
    {
        await using var server = await ServerProcess.StartAsync("--jwt-secret", SecuredServer.Secret);
        using var http = new HttpClient { BaseAddress = server.HttpUrl, Timeout = TimeSpan.FromSeconds(10) };
        var user = "op" + Guid.NewGuid().ToString("N")[..10];
        await using var client = await WsClient.ConnectAsync(server.WsUrl("?token=" + Jwt.Create(SecuredServer.Secret, user)));

        foreach (var (path, body) in new[] { ("/api/revoke", $$"""{"user":"{{user}}"}"""), ("/api/unsubscribe", $$"""{"user":"{{user}}","room":"a"}""") })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Jwt.Create(SecuredServer.Secret, "svc", scope: "publish"));
            using var response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Contains("--api-key", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        await client.SubscribeAsync("analytics"); // still connected
    }
}
