using System.Collections.Concurrent;
using MoltBeat.WebSocket.Client;
using MoltBeat.WebSocket.Tests.Infrastructure;
using MoltBeat.WebSocket.Tests.Server;
using static MoltBeat.WebSocket.Tests.Client.ClientTestKit;

namespace MoltBeat.WebSocket.Tests.Client;

/// <summary>The .NET client after its user was revoked (4003): a new token first, never the revoked one again.</summary>
public sealed class ClientRevocationTests
{
    /// <summary>A real server verifying JWTs, recording every token it was asked to authenticate.</summary>
    private static Task<TestServer> StartAsync(ConcurrentQueue<string> seen)
    {
        var authenticate = RevocationTests.Authenticator().AsDelegate();
        return TestServer.StartAsync(o => o.AuthenticateClient = (token, ct) =>
        {
            seen.Enqueue(token);
            return authenticate(token, ct);
        });
    }

    private static string UniqueUser() => "u" + Guid.NewGuid().ToString("N")[..10];

    [Fact(Timeout = 30_000)]
    public async Task After_4003_the_client_does_not_reconnect_when_the_token_provider_returns_the_revoked_token()
    {
        var seen = new ConcurrentQueue<string>();
        await using var server = await StartAsync(seen);
        var user = UniqueUser();
        var token = RevocationTests.Token(user);
        var calls = 0;
        var options = FastOptions(server.WsUri());
        options.TokenProvider = _ =>
        {
            Interlocked.Increment(ref calls);
            return ValueTask.FromResult<string?>(token); // a stale cache: always the same token
        };
        await using var client = new MoltBeatWSClient(options);
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);

        await server.Server.RevokeUserAsync(user);

        await Eventually(() => !recorder.ReconnectFailed.IsEmpty, "ReconnectFailed");
        var lost = recorder.Disconnected.Single();
        Assert.Equal(4003, lost.CloseCode);
        Assert.Equal("revoked", lost.Reason);
        var failed = Assert.IsType<MoltBeatConnectionException>(recorder.ReconnectFailed.Single().LastException);
        Assert.Equal(4003, failed.CloseCode);
        Assert.Contains("revoked", failed.Message, StringComparison.Ordinal);
        await Task.Delay(400);
        Assert.Equal([token], seen); // the revoked token was never sent again
        Assert.True(Volatile.Read(ref calls) >= 2, "the provider was asked for a new token");
        Assert.Equal(MoltBeatWSClientState.Disconnected, client.State);
        Assert.Single(recorder.Connected);
    }

    [Fact(Timeout = 30_000)]
    public async Task After_4003_the_client_reconnects_with_the_new_token_the_provider_gives_and_resubscribes()
    {
        var seen = new ConcurrentQueue<string>();
        await using var server = await StartAsync(seen);
        var user = UniqueUser();
        var first = RevocationTests.Token(user);
        string? second = null;
        var revoked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = FastOptions(server.WsUri());
        options.TokenProvider = async ct =>
        {
            if (!revoked.Task.IsCompleted)
                return first;
            // The token service issues the user a new token (a second later: iat has whole seconds).
            await RevocationTests.NextSecondAsync();
            return second ??= RevocationTests.Token(user);
        };
        await using var client = new MoltBeatWSClient(options);
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);
        var room = UniqueRoom();
        await client.SubscribeAsync(room).WaitAsync(Limit);

        revoked.SetResult();
        await server.Server.RevokeUserAsync(user);

        await Eventually(() => recorder.Connected.Count == 2 && client.IsConnected, "the reconnect with the new token");
        var lost = recorder.Disconnected.Single();
        Assert.Equal(4003, lost.CloseCode);
        Assert.True(lost.WillReconnect);
        Assert.Empty(recorder.ReconnectFailed);
        Assert.Equal([first, second], seen);
        await Eventually(() => recorder.Subscribed.Count == 2, "the resubscription");
        server.Server.Broadcast(room, "tick", new { n = 1 });
        await Eventually(() => recorder.Numbers().Count == 1, "an event on the new connection");
    }
}
