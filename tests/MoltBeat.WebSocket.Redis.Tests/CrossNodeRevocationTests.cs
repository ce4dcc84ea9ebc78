using System.Security.Claims;
using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using MoltBeat.WebSocket.Auth;
using MoltBeat.WebSocket.Redis.Tests.Infrastructure;
using MoltBeat.WebSocket.Tests.Infrastructure;
using StackExchange.Redis;

namespace MoltBeat.WebSocket.Redis.Tests;

/// <summary>Protocol 1.1 revocation across nodes sharing one Redis: every node applies it, and nodes that start later know of it.</summary>
public sealed class CrossNodeRevocationTests
{
    private const string Secret = "cross-node-revocation-secret-0123456789";
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    private static string Token(string sub)
    {
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Subject = new ClaimsIdentity([new Claim("sub", sub)]),
            IssuedAt = now,
            NotBefore = now.AddMinutes(-1),
            Expires = now.AddMinutes(10),
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(Secret)), SecurityAlgorithms.HmacSha256),
        });
    }

    private static Task<Cluster> StartAsync(int nodes) =>
        Cluster.StartAsync(nodes, server: o => o.AuthenticateClient = new JwtAuthenticator(new JwtAuthOptions { Secret = Secret }).AsDelegate());

    private static Task<RawClient> ConnectAsync(Node node, string token) => RawClient.ConnectReadyAsync(node.WsUri("batch=0&token=" + token));

    private static string UniqueUser() => "u" + Guid.NewGuid().ToString("N")[..10];

    [Fact]
    public async Task Revoked_user_is_closed_with_4003_on_every_node_and_a_node_started_later_refuses_the_old_token()
    {
        await using var cluster = await StartAsync(2);
        var (user, other) = (UniqueUser(), UniqueUser());
        var old = Token(user);
        await using var onFirst = await ConnectAsync(cluster[0], old);
        await using var onSecond = await ConnectAsync(cluster[1], old);
        await using var bystander = await ConnectAsync(cluster[1], Token(other));
        var room = $"rev:{Guid.NewGuid():N}";
        await bystander.SubscribeAsync(room);

        await cluster[0].Server.RevokeUserAsync(user).WaitAsync(TimeSpan.FromSeconds(10));

        foreach (var client in new[] { onFirst, onSecond })
        {
            var (status, reason, _) = await client.ReceiveCloseAsync();
            Assert.Equal(4003, (int)status!);
            Assert.Equal("revoked", reason);
        }
        await cluster[0].PublishAsync(room, 1);
        Assert.Equal(1, (await bystander.ReceiveEventAsync()).GetProperty("data").GetProperty("n").GetInt32());

        // The revocation is kept in Redis, for 24 hours at most.
        await using (var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.Configuration))
        {
            var key = new RedisKeys(cluster.Prefix).Revoked(user);
            Assert.True((await redis.GetDatabase().StringGetAsync(key)).TryParse(out long _));
            var ttl = await redis.GetDatabase().KeyTimeToLiveAsync(key);
            Assert.InRange(ttl!.Value, TimeSpan.FromHours(23.9), TimeSpan.FromHours(24));
        }

        // A node that started after the revocation never received its message, yet refuses the old token.
        var late = await cluster.AddNodeAsync();
        await using (var refused = await RawClient.ConnectAsync(late.WsUri("batch=0&token=" + old)))
            Assert.Equal(4001, (int)(await refused.ReceiveCloseAsync()).Status!);
        await using (var refusedHere = await RawClient.ConnectAsync(cluster[1].WsUri("batch=0&token=" + old)))
            Assert.Equal(4001, (int)(await refusedHere.ReceiveCloseAsync()).Status!);

        await Task.Delay(TimeSpan.FromMilliseconds(1100)); // iat has whole seconds
        await using var fresh = await ConnectAsync(late, Token(user));
        await fresh.SubscribeAsync(room);
    }

    [Fact]
    public async Task UnsubscribeUser_on_one_node_removes_the_users_subscriptions_on_every_node()
    {
        await using var cluster = await StartAsync(2);
        var (user, other) = (UniqueUser(), UniqueUser());
        var tenant = $"tenant{Guid.NewGuid():N}";
        await using var onFirst = await ConnectAsync(cluster[0], Token(user));
        await using var onSecond = await ConnectAsync(cluster[1], Token(user));
        await using var bystander = await ConnectAsync(cluster[1], Token(other));
        foreach (var client in new[] { onFirst, onSecond })
        {
            await client.SubscribeAsync(tenant + ":7:agents");
            await client.SubscribeAsync(tenant + ":8");
        }
        await bystander.SubscribeAsync(tenant + ":7");

        await cluster[1].Server.UnsubscribeUserAsync(user, tenant + ":7").WaitAsync(TimeSpan.FromSeconds(10));

        foreach (var client in new[] { onFirst, onSecond })
        {
            var removed = await client.ReceiveAsync();
            Assert.Equal("unsubscribed", removed.GetProperty("type").GetString());
            Assert.Equal(tenant + ":7:agents", removed.GetProperty("room").GetString());
            Assert.Equal("revoked", removed.GetProperty("reason").GetString());
        }
        await cluster[0].PublishAsync(tenant + ":7:agents", 1);
        await cluster[0].PublishAsync(tenant + ":8", 2);
        foreach (var client in new[] { onFirst, onSecond })
        {
            Assert.Equal(2, (await client.ReceiveEventAsync()).GetProperty("data").GetProperty("n").GetInt32());
            await client.AssertNothingAsync(Quiet);
        }
        Assert.Equal(1, (await bystander.ReceiveEventAsync()).GetProperty("data").GetProperty("n").GetInt32());
    }
}
