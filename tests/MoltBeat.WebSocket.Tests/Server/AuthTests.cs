using System.Net;
using System.Net.WebSockets;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using MoltBeat.WebSocket.Auth;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Tests.Server;

public sealed class AuthTests
{
    private const string Secret = "a-test-secret-that-is-long-enough-for-hs256!";

    private static string Token(TimeProvider time, string sub = "42", TimeSpan? lifetime = null, string? audience = null, string secret = Secret)
    {
        var now = time.GetUtcNow().UtcDateTime;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Subject = new ClaimsIdentity([new Claim("sub", sub)]),
            NotBefore = now.AddMinutes(-1),
            IssuedAt = now.AddMinutes(-1),
            Expires = now + (lifetime ?? TimeSpan.FromMinutes(10)),
            Audience = audience,
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(secret)), SecurityAlgorithms.HmacSha256),
        });
    }

    private static Task<TestServer> StartWithJwtAsync(TimeProvider time, Action<MoltBeat.WebSocket.Server.WSServerOptions>? more = null, string? audience = null) =>
        TestServer.StartAsync(o =>
        {
            o.AuthenticateClient = new JwtAuthenticator(new JwtAuthOptions { Secret = Secret, Audience = audience }, time).AsDelegate();
            more?.Invoke(o);
        }, time);

    [Fact]
    public async Task Token_in_query_authenticates_and_connected_carries_the_user()
    {
        await using var server = await StartWithJwtAsync(TimeProvider.System);
        await using var client = await RawClient.ConnectAsync(server.WsUri("token=" + Token(TimeProvider.System)));
        var connected = await client.ReceiveAsync();
        Assert.Equal("connected", connected.GetProperty("type").GetString());
        Assert.Equal("42", connected.GetProperty("user").GetProperty("userId").GetString());
    }

    [Fact]
    public async Task Bearer_header_authenticates()
    {
        await using var server = await StartWithJwtAsync(TimeProvider.System);
        var token = Token(TimeProvider.System, sub: "7");
        await using var client = await RawClient.ConnectAsync(server.WsUri(), o => o.SetRequestHeader("Authorization", "Bearer " + token));
        Assert.Equal("7", (await client.ReceiveAsync()).GetProperty("user").GetProperty("userId").GetString());
    }

    [Fact]
    public async Task First_message_auth_authenticates_and_earlier_requests_are_unauthorized()
    {
        await using var server = await StartWithJwtAsync(TimeProvider.System);
        await using var client = await RawClient.ConnectAsync(server.WsUri());
        var early = await client.RequestAsync("subscribe", "\"room\":\"analytics\"");
        Assert.Equal("unauthorized", early.GetProperty("code").GetString());
        await client.SendAsync($"{{\"type\":\"auth\",\"token\":\"{Token(TimeProvider.System)}\"}}");
        Assert.Equal("connected", (await client.ReceiveAsync()).GetProperty("type").GetString());
        await client.SubscribeAsync("analytics");
    }

    public static TheoryData<string> BadTokens() => new()
    {
        "not-a-jwt",
        Token(TimeProvider.System, secret: "another-secret-that-is-long-enough-for-hs256"),
        Token(TimeProvider.System, lifetime: TimeSpan.FromMinutes(-5)),
        // alg: none, unsigned
        Base64Url("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." + Base64Url($"{{\"sub\":\"42\",\"exp\":{DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds()}}}") + ".",
    };

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task Invalid_expired_or_unsigned_token_closes_with_4001_and_no_other_message(string token)
    {
        await using var server = await StartWithJwtAsync(TimeProvider.System);
        await using var client = await RawClient.ConnectAsync(server.WsUri("token=" + Uri.EscapeDataString(token)));
        var (status, _, before) = await client.ReceiveCloseAsync();
        Assert.Equal(4001, (int?)status);
        Assert.Empty(before);
    }

    [Fact]
    public async Task Token_for_another_audience_is_refused()
    {
        await using var server = await StartWithJwtAsync(TimeProvider.System, audience: "moltbeat");
        await using var wrong = await RawClient.ConnectAsync(server.WsUri("token=" + Token(TimeProvider.System, audience: "someone-else")));
        Assert.Equal(4001, (int?)(await wrong.ReceiveCloseAsync()).Status);
        await using var right = await RawClient.ConnectAsync(server.WsUri("token=" + Token(TimeProvider.System, audience: "moltbeat")));
        Assert.Equal("connected", (await right.ReceiveAsync()).GetProperty("type").GetString());
    }

    [Fact]
    public async Task Client_that_never_authenticates_is_closed_with_4001_after_the_auth_timeout()
    {
        var time = TestClock.Create();
        await using var server = await StartWithJwtAsync(time, o => o.AuthTimeout = TimeSpan.FromSeconds(10));
        await using var client = await RawClient.ConnectAsync(server.WsUri());
        await Task.Delay(100);
        time.Advance(TimeSpan.FromSeconds(9));
        await Task.Delay(100);
        Assert.Equal(WebSocketState.Open, client.Socket.State);
        time.Advance(TimeSpan.FromSeconds(2));
        var (status, _, _) = await client.ReceiveCloseAsync();
        Assert.Equal(4001, (int?)status);
    }

    [Fact]
    public async Task Token_expiring_mid_connection_closes_with_4001_token_expired()
    {
        var time = TestClock.Create();
        await using var server = await StartWithJwtAsync(time, o => o.HeartbeatInterval = TimeSpan.FromMinutes(10));
        await using var client = await RawClient.ConnectAsync(server.WsUri("token=" + Token(time, lifetime: TimeSpan.FromMinutes(2))));
        Assert.Equal("connected", (await client.ReceiveAsync()).GetProperty("type").GetString());
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal("pong", (await client.RequestAsync("ping")).GetProperty("type").GetString());
        time.Advance(TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(1));
        var (status, reason, _) = await client.ReceiveCloseAsync();
        Assert.Equal(4001, (int?)status);
        Assert.Equal("token_expired", reason);
    }

    [Fact]
    public async Task Refreshing_the_token_extends_the_connection_past_the_first_expiry()
    {
        var time = TestClock.Create();
        await using var server = await StartWithJwtAsync(time, o => o.HeartbeatInterval = TimeSpan.FromMinutes(10));
        await using var client = await RawClient.ConnectAsync(server.WsUri("token=" + Token(time, lifetime: TimeSpan.FromMinutes(2))));
        await client.ReceiveAsync();
        time.Advance(TimeSpan.FromMinutes(1));
        var fresh = Token(time, lifetime: TimeSpan.FromMinutes(10));
        var reply = await client.RequestAsync("auth", $"\"token\":\"{fresh}\"");
        Assert.Equal("authenticated", reply.GetProperty("type").GetString());
        Assert.True(reply.GetProperty("expiresAt").GetInt64() > time.GetUtcNow().ToUnixTimeMilliseconds());
        time.Advance(TimeSpan.FromMinutes(3));
        Assert.Equal("pong", (await client.RequestAsync("ping")).GetProperty("type").GetString());
    }

    [Fact]
    public async Task Refresh_with_a_bad_token_gets_unauthorized_then_close_4001()
    {
        await using var server = await StartWithJwtAsync(TimeProvider.System);
        await using var client = await RawClient.ConnectAsync(server.WsUri("token=" + Token(TimeProvider.System)));
        await client.ReceiveAsync();
        await client.SendAsync("{\"type\":\"auth\",\"token\":\"garbage\",\"id\":9}");
        var (status, _, before) = await client.ReceiveCloseAsync();
        Assert.Equal(4001, (int?)status);
        var error = Assert.Single(before);
        Assert.Equal("unauthorized", error.GetProperty("code").GetString());
        Assert.Equal(9, error.GetProperty("id").GetInt32());
    }

    [Fact]
    public async Task Refresh_with_another_users_token_is_refused()
    {
        await using var server = await StartWithJwtAsync(TimeProvider.System);
        await using var client = await RawClient.ConnectAsync(server.WsUri("token=" + Token(TimeProvider.System, sub: "1")));
        await client.ReceiveAsync();
        await client.SendAsync($"{{\"type\":\"auth\",\"token\":\"{Token(TimeProvider.System, sub: "2")}\",\"id\":3}}");
        Assert.Equal(4001, (int?)(await client.ReceiveCloseAsync()).Status);
    }

    [Fact]
    public async Task Authenticator_that_throws_closes_with_1011_not_4001()
    {
        await using var server = await TestServer.StartAsync(o =>
            o.AuthenticateClient = (_, _) => throw new InvalidOperationException("user store unreachable"));
        await using var client = await RawClient.ConnectAsync(server.WsUri("token=anything"));
        var (status, _, before) = await client.ReceiveCloseAsync();
        Assert.Equal(1011, (int?)status);
        Assert.Empty(before);
    }

    [Fact]
    public async Task Rs256_token_verified_through_a_jwks_document_authenticates()
    {
        using var rsa = RSA.Create(2048);
        var parameters = rsa.ExportParameters(includePrivateParameters: false);
        var jwks = $$"""{"keys":[{"kty":"RSA","use":"sig","alg":"RS256","kid":"k1","n":"{{Base64UrlEncoder.Encode(parameters.Modulus)}}","e":"{{Base64UrlEncoder.Encode(parameters.Exponent)}}"}]}""";
        var authenticator = new JwtAuthenticator(new JwtAuthOptions { JwksJson = jwks });
        string Sign(string kid) => new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Subject = new ClaimsIdentity([new Claim("sub", "jwks-user")]),
            Expires = DateTime.UtcNow.AddMinutes(5),
            SigningCredentials = new SigningCredentials(new RsaSecurityKey(rsa) { KeyId = kid }, SecurityAlgorithms.RsaSha256),
        });
        Assert.Equal("jwks-user", (await authenticator.AuthenticateAsync(Sign("k1")))?.UserId);
        using var other = RSA.Create(2048);
        var forged = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Subject = new ClaimsIdentity([new Claim("sub", "jwks-user")]),
            Expires = DateTime.UtcNow.AddMinutes(5),
            SigningCredentials = new SigningCredentials(new RsaSecurityKey(other) { KeyId = "k1" }, SecurityAlgorithms.RsaSha256),
        });
        Assert.Null(await authenticator.AuthenticateAsync(forged));
    }

    [Fact]
    public async Task Array_claims_keep_every_value()
    {
        var token = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Claims = new Dictionary<string, object> { ["sub"] = "9", ["scope"] = new[] { "read", "publish" } },
            Expires = DateTime.UtcNow.AddMinutes(5),
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(Secret)), SecurityAlgorithms.HmacSha256),
        });
        var user = await new JwtAuthenticator(new JwtAuthOptions { Secret = Secret }).AuthenticateAsync(token);
        Assert.Equal("read publish", user!.Claims["scope"]);
    }

    [Fact]
    public async Task Rs256_token_verified_with_a_public_key_authenticates()
    {
        using var rsa = RSA.Create(2048);
        var authenticator = new JwtAuthenticator(new JwtAuthOptions { PublicKeyPem = rsa.ExportSubjectPublicKeyInfoPem() });
        var token = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Subject = new ClaimsIdentity([new Claim("sub", "rsa-user")]),
            Expires = DateTime.UtcNow.AddMinutes(5),
            SigningCredentials = new SigningCredentials(new RsaSecurityKey(rsa), SecurityAlgorithms.RsaSha256),
        });
        Assert.Equal("rsa-user", (await authenticator.AuthenticateAsync(token))?.UserId);
        Assert.Null(await authenticator.AuthenticateAsync(Token(TimeProvider.System)));
    }

    [Fact]
    public async Task Handshake_from_a_disallowed_origin_gets_http_403()
    {
        await using var server = await TestServer.StartAsync(o => o.AllowedOrigins.Add("https://dashboard.example"));
        var ex = await Assert.ThrowsAsync<WebSocketException>(() => RawClient.ConnectAsync(server.WsUri(), o =>
        {
            o.SetRequestHeader("Origin", "https://evil.example");
            o.CollectHttpResponseDetails = true;
        }));
        Assert.Contains("403", ex.Message);
        await using var ok = await RawClient.ConnectAsync(server.WsUri(), o => o.SetRequestHeader("Origin", "https://dashboard.example"));
        Assert.Equal("connected", (await ok.ReceiveAsync()).GetProperty("type").GetString());
    }

    [Fact]
    public async Task Handshake_past_max_connections_gets_http_503()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxConnections = 2);
        await using var a = await server.ConnectAsync();
        await using var b = await server.ConnectAsync();
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(server.WsUri(), CancellationToken.None));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, socket.HttpStatusCode);
    }

    [Fact]
    public async Task Plain_http_request_to_the_websocket_path_gets_400()
    {
        await using var server = await TestServer.StartAsync();
        using var http = new HttpClient();
        var response = await http.GetAsync(new Uri(server.HttpUri, "/ws"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    private static string Base64Url(string json) => Base64UrlEncoder.Encode(json);
}
