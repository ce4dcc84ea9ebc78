using System.Security.Claims;
using System.Text;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using MoltBeat.WebSocket.Auth;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Tests.Server;

/// <summary>Protocol 1.1 revocation on one node (the in-memory engine): <c>RevokeUserAsync</c> and <c>UnsubscribeUserAsync</c>.</summary>
public sealed class RevocationTests
{
    private const string Secret = "revocation-tests-secret-0123456789abcdef";
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    /// <summary>An HS256 token for <paramref name="sub"/> issued now (<c>iat</c>), or without <c>iat</c>.</summary>
    internal static string Token(string sub, bool withIssuedAt = true)
    {
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Subject = new ClaimsIdentity([new Claim("sub", sub)]),
            IssuedAt = withIssuedAt ? now : null,
            NotBefore = now.AddMinutes(-1),
            Expires = now.AddMinutes(10),
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(Secret)), SecurityAlgorithms.HmacSha256),
        });
    }

    internal static JwtAuthenticator Authenticator() => new(new JwtAuthOptions { Secret = Secret });

    private static Task<TestServer> StartAsync() => TestServer.StartAsync(o => o.AuthenticateClient = Authenticator().AsDelegate());

    private static Task<RawClient> ConnectAsync(TestServer server, string token) => RawClient.ConnectReadyAsync(server.WsUri("batch=0&token=" + token));

    private static string UniqueUser() => "u" + Guid.NewGuid().ToString("N")[..10];

    private static string UniqueRoom(string parent) => $"{parent}{Guid.NewGuid():N}";

    /// <summary>Waits past the current second, so that a token made now has an <c>iat</c> (whole seconds) after a revocation made before.</summary>
    internal static Task NextSecondAsync() => Task.Delay(TimeSpan.FromMilliseconds(1100));

    [Fact]
    public async Task Revoked_user_is_closed_with_4003_and_other_users_stay_connected()
    {
        await using var server = await StartAsync();
        var (revoked, other) = (UniqueUser(), UniqueUser());
        var room = UniqueRoom("rev");
        await using var first = await ConnectAsync(server, Token(revoked));
        await using var second = await ConnectAsync(server, Token(revoked));
        await using var bystander = await ConnectAsync(server, Token(other));
        foreach (var client in new[] { first, second, bystander })
            await client.SubscribeAsync(room);

        await server.Server.RevokeUserAsync(revoked);

        foreach (var client in new[] { first, second })
        {
            var (status, reason, _) = await client.ReceiveCloseAsync();
            Assert.Equal(4003, (int)status!);
            Assert.Equal("revoked", reason);
        }
        server.Server.Broadcast(room, "tick", new { n = 1 });
        var evt = await bystander.ReceiveEventAsync();
        Assert.Equal(1, evt.GetProperty("data").GetProperty("n").GetInt32());
        Assert.Equal("pong", (await bystander.RequestAsync("ping")).GetProperty("type").GetString());
    }

    [Fact]
    public async Task Token_issued_before_the_revocation_is_refused_with_4001_and_one_issued_after_is_accepted()
    {
        await using var server = await StartAsync();
        var user = UniqueUser();
        var old = Token(user);
        await using (var connected = await ConnectAsync(server, old))
        {
            await server.Server.RevokeUserAsync(user);
            Assert.Equal(4003, (int)(await connected.ReceiveCloseAsync()).Status!);
        }

        // In the query string, and in a first-message auth: refused like any bad token (4001, nothing else).
        await using (var query = await RawClient.ConnectAsync(server.WsUri("batch=0&token=" + old)))
        {
            var (status, _, before) = await query.ReceiveCloseAsync();
            Assert.Equal(4001, (int)status!);
            Assert.Empty(before);
        }
        await using (var message = await RawClient.ConnectAsync(server.WsUri("batch=0")))
        {
            await message.SendAsync($"{{\"type\":\"auth\",\"token\":\"{old}\"}}");
            Assert.Equal(4001, (int)(await message.ReceiveCloseAsync()).Status!);
        }

        await NextSecondAsync();
        await using var fresh = await ConnectAsync(server, Token(user));
        await fresh.SubscribeAsync(UniqueRoom("rev"));
    }

    [Fact]
    public async Task Token_without_iat_of_a_revoked_user_is_refused_and_another_users_is_accepted()
    {
        await using var server = await StartAsync();
        var (user, other) = (UniqueUser(), UniqueUser());
        await using (var before = await ConnectAsync(server, Token(user, withIssuedAt: false)))
        {
            await server.Server.RevokeUserAsync(user);
            Assert.Equal(4003, (int)(await before.ReceiveCloseAsync()).Status!);
        }
        await NextSecondAsync();

        await using var refused = await RawClient.ConnectAsync(server.WsUri("batch=0&token=" + Token(user, withIssuedAt: false)));
        Assert.Equal(4001, (int)(await refused.ReceiveCloseAsync()).Status!);
        await using var accepted = await ConnectAsync(server, Token(other, withIssuedAt: false));
    }

    [Fact]
    public async Task Auth_refresh_with_a_token_issued_before_the_revocation_is_refused_with_4001()
    {
        await using var server = await StartAsync();
        var user = UniqueUser();
        var old = Token(user);
        await server.Server.RevokeUserAsync(user);
        await NextSecondAsync();
        await using var client = await ConnectAsync(server, Token(user));

        var reply = await client.RequestAsync("auth", $"\"token\":\"{old}\"");

        Assert.Equal("error", reply.GetProperty("type").GetString());
        Assert.Equal("unauthorized", reply.GetProperty("code").GetString());
        Assert.Equal(4001, (int)(await client.ReceiveCloseAsync()).Status!);
    }

    [Fact]
    public async Task Revoking_a_user_with_no_connection_here_refuses_its_old_tokens_all_the_same()
    {
        await using var server = await StartAsync();
        var user = UniqueUser();
        var old = Token(user);

        await server.Server.RevokeUserAsync(user);

        await using var refused = await RawClient.ConnectAsync(server.WsUri("batch=0&token=" + old));
        Assert.Equal(4001, (int)(await refused.ReceiveCloseAsync()).Status!);
        await Assert.ThrowsAsync<ArgumentException>(() => server.Server.RevokeUserAsync(""));
    }

    [Fact]
    public async Task UnsubscribeUser_removes_the_room_and_its_subtree_with_reason_revoked_and_other_rooms_keep_flowing()
    {
        await using var server = await StartAsync();
        var (user, other) = (UniqueUser(), UniqueUser());
        var tenant = UniqueRoom("tenant");
        var (room, child, sibling, unrelated) = (tenant + ":7", tenant + ":7:agents", tenant + ":70", tenant + ":8");
        await using var client = await ConnectAsync(server, Token(user));
        await using var bystander = await ConnectAsync(server, Token(other));
        foreach (var r in new[] { room, child, sibling, unrelated })
            await client.SubscribeAsync(r);
        await bystander.SubscribeAsync(room);

        await server.Server.UnsubscribeUserAsync(user, room);

        var removed = new[] { await client.ReceiveAsync(), await client.ReceiveAsync() };
        Assert.All(removed, m =>
        {
            Assert.Equal("unsubscribed", m.GetProperty("type").GetString());
            Assert.Equal("revoked", m.GetProperty("reason").GetString());
            Assert.False(m.TryGetProperty("id", out _));
        });
        Assert.Equal([room, child], removed.Select(m => m.GetProperty("room").GetString()).Order(StringComparer.Ordinal));
        server.Server.Broadcast(child, "tick", new { n = 1 });
        server.Server.Broadcast(sibling, "tick", new { n = 2 });
        server.Server.Broadcast(unrelated, "tick", new { n = 3 });
        Assert.Equal(sibling, (await client.ReceiveEventAsync()).GetProperty("room").GetString());
        Assert.Equal(unrelated, (await client.ReceiveEventAsync()).GetProperty("room").GetString());
        await client.AssertNothingAsync(Quiet);
        Assert.Equal(1, (await bystander.ReceiveEventAsync()).GetProperty("data").GetProperty("n").GetInt32());
        // The connection stays open and serves requests; subscribing again is the application's call (its authorization hook).
        Assert.Equal("pong", (await client.RequestAsync("ping")).GetProperty("type").GetString());
    }

    [Fact]
    public async Task Nothing_of_a_removed_room_arrives_after_its_unsubscribed_message_while_events_keep_coming()
    {
        await using var server = await StartAsync();
        var user = UniqueUser();
        var room = UniqueRoom("busy");
        var marker = UniqueRoom("marker");
        await using var client = await ConnectAsync(server, Token(user));
        await client.SubscribeAsync(room);
        await client.SubscribeAsync(marker);

        // Events of the room before, during and after the removal (50 more once it has returned).
        var removedAt = -1;
        var published = 0;
        var publishing = Task.Run(async () =>
        {
            for (var n = 1; Volatile.Read(ref removedAt) < 0 || n <= Volatile.Read(ref removedAt) + 50; n++)
            {
                await server.Server.PublishAsync([room], "tick", new { n });
                Volatile.Write(ref published, n);
                if (n % 20 == 0)
                    await Task.Delay(1);
            }
        });
        await Task.Delay(30);
        await server.Server.UnsubscribeUserAsync(user, room);
        Volatile.Write(ref removedAt, Volatile.Read(ref published));
        await publishing.WaitAsync(TimeSpan.FromSeconds(20));
        server.Server.Broadcast(marker, "done", null);

        var messages = new List<JsonElement>();
        while (true)
        {
            var m = await client.ReceiveAsync();
            messages.Add(m);
            if (m.GetProperty("type").GetString() == "event" && m.GetProperty("room").GetString() == marker)
                break;
        }
        var at = messages.FindIndex(m => m.GetProperty("type").GetString() == "unsubscribed");
        Assert.True(at >= 0, "no unsubscribed message");
        Assert.Equal("revoked", messages[at].GetProperty("reason").GetString());
        Assert.DoesNotContain(messages.Skip(at + 1), m => m.GetProperty("type").GetString() == "event" && m.GetProperty("room").GetString() == room);
        // What came before it came in order, without a gap.
        var before = messages.Take(at).Select(m => m.GetProperty("data").GetProperty("n").GetInt32()).ToList();
        Assert.Equal(Enumerable.Range(1, before.Count), before);
    }

    [Fact]
    public async Task Subscribe_in_flight_when_the_control_arrives_completes_then_is_removed()
    {
        // The authorization hook holds the subscribe until the operator's removal was asked for.
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = UniqueRoom("held");
        await using var server = await TestServer.StartAsync(o =>
        {
            o.AuthenticateClient = Authenticator().AsDelegate();
            o.AuthorizeSubscription = async (_, room, _) =>
            {
                if (room == held)
                {
                    entered.TrySetResult();
                    await release.Task;
                }
                return true;
            };
        });
        var user = UniqueUser();
        await using var client = await ConnectAsync(server, Token(user));
        await client.SendAsync($"{{\"type\":\"subscribe\",\"room\":\"{held}\",\"id\":1}}");
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(10));

        await server.Server.UnsubscribeUserAsync(user, held);
        await Task.Delay(100);
        release.SetResult();

        var subscribed = await client.ReceiveAsync();
        Assert.Equal("subscribed", subscribed.GetProperty("type").GetString());
        var removed = await client.ReceiveAsync();
        Assert.Equal("unsubscribed", removed.GetProperty("type").GetString());
        Assert.Equal(held, removed.GetProperty("room").GetString());
        server.Server.Broadcast(held, "tick", new { n = 1 });
        await client.AssertNothingAsync(Quiet);
    }
}
