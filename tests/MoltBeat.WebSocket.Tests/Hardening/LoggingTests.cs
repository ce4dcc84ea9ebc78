using MoltBeat.WebSocket.Auth;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Tests.Hardening;

/// <summary>What the server logs about clients, at every level: never a token, wherever the client put it.</summary>
public sealed class LoggingTests
{
    [Fact]
    public async Task Tokens_never_reach_the_logs_from_the_query_the_header_or_the_auth_message()
    {
        // Distinct, recognisable tokens; the authenticator accepts those that start with "good-".
        var query = "good-query-" + Guid.NewGuid().ToString("N");
        var header = "good-header-" + Guid.NewGuid().ToString("N");
        var message = "good-message-" + Guid.NewGuid().ToString("N");
        var refused = "bad-query-" + Guid.NewGuid().ToString("N");
        var refusedMessage = "bad-message-" + Guid.NewGuid().ToString("N");
        await using var server = await HardServer.StartAsync(o => o.AuthenticateClient = (token, _) =>
            ValueTask.FromResult(token.StartsWith("good-", StringComparison.Ordinal) ? new WSUser("u-" + token.Length) : null));

        await using (var a = await RawClient.ConnectAsync(server.WsUri("token=" + query)))
            Assert.Equal("connected", (await a.ReceiveAsync()).GetProperty("type").GetString());
        await using (var b = await RawClient.ConnectAsync(server.WsUri(), o => o.SetRequestHeader("Authorization", "Bearer " + header)))
            Assert.Equal("connected", (await b.ReceiveAsync()).GetProperty("type").GetString());
        await using (var c = await RawClient.ConnectAsync(server.WsUri()))
        {
            await c.SendAsync($"{{\"type\":\"auth\",\"token\":\"{message}\"}}");
            Assert.Equal("connected", (await c.ReceiveAsync()).GetProperty("type").GetString());
            await c.SendAsync($"{{\"type\":\"auth\",\"token\":\"{refusedMessage}\",\"id\":2}}");
            Assert.Equal(4001, (int?)(await c.ReceiveCloseAsync()).Status);
        }
        await using (var d = await RawClient.ConnectAsync(server.WsUri("token=" + refused)))
            Assert.Equal(4001, (int?)(await d.ReceiveCloseAsync()).Status);
        await server.AssertNoConnectionsAsync(TimeSpan.FromSeconds(10));

        Assert.NotEmpty(server.Logs.Entries);
        foreach (var entry in server.Logs.Entries)
        {
            foreach (var secret in new[] { query, header, message, refused, refusedMessage })
            {
                Assert.DoesNotContain(secret, entry.Message, StringComparison.Ordinal);
                Assert.DoesNotContain(secret, entry.Exception ?? "", StringComparison.Ordinal);
            }
        }
        // The failed authentications are logged, without the token.
        Assert.Contains(server.Logs.Entries, e => e.Message.Contains("failed authentication", StringComparison.Ordinal));
    }
}
