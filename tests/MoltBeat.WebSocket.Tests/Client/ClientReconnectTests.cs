using MoltBeat.WebSocket.Auth;
using MoltBeat.WebSocket.Client;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Server;
using MoltBeat.WebSocket.Tests.Infrastructure;
using static MoltBeat.WebSocket.Tests.Client.ClientTestKit;

namespace MoltBeat.WebSocket.Tests.Client;

public sealed class ClientReconnectTests
{
    [Fact(Timeout = 30_000)]
    public async Task Client_resubscribes_by_itself_after_server_restart_and_raises_RecoveryFailed()
    {
        var first = await TestServer.StartAsync();
        var port = first.HttpUri.Port;
        MoltBeatWSServer? second = null;
        var client = new MoltBeatWSClient(FastOptions(first.WsUri()));
        try
        {
            var recorder = new ClientRecorder(client);
            await client.ConnectAsync().WaitAsync(Limit);
            var room = UniqueRoom("analytics");
            var before = await client.SubscribeAsync(room).WaitAsync(Limit);
            first.Server.Broadcast(room, "tick", new { n = 1 });
            await Eventually(() => recorder.Numbers().Count == 1, "the first event");

            await first.DisposeAsync(); // closes every client with 1001 going_away
            await Eventually(() => client.State == MoltBeatWSClientState.Reconnecting, "Reconnecting");
            second = new MoltBeatWSServer(new WSServerOptions { Port = port, Host = "127.0.0.1", CloseTimeout = TimeSpan.FromSeconds(2) });
            await second.StartAsync().WaitAsync(Limit);

            await Eventually(() => recorder.RecoveryFailed.Count == 1 && client.IsConnected, "the resubscription");
            var failed = recorder.RecoveryFailed.Single();
            Assert.Equal(room, failed.Room);
            Assert.Equal(new StreamPosition(before.Epoch, 1), failed.Since);
            Assert.NotEqual(before.Epoch, failed.Current.Epoch); // a new in-memory server has new epochs
            var lost = recorder.Disconnected.Single();
            Assert.Equal(1001, lost.CloseCode);
            Assert.True(lost.WillReconnect);
            Assert.True(recorder.Connected.Last().IsReconnect);
            Assert.Contains(recorder.Subscribed, s => s.Room == room && s.Recovered == false);

            // The new server's first event has id 1 again, like the old server's: it must not be taken for a duplicate.
            second.Broadcast(room, "tick", new { n = 2 });
            await Eventually(() => recorder.Numbers().Count == 2, "the event from the new server");
            Assert.Equal([1, 2], recorder.Numbers());
            Assert.Equal(new StreamPosition(failed.Current.Epoch, 1), client.GetPosition(room));
            Assert.Empty(recorder.Errors);
        }
        finally
        {
            await client.DisposeAsync();
            if (second is not null)
                await second.DisposeAsync();
            await first.DisposeAsync();
        }
    }

    [Theory(Timeout = 30_000)]
    [InlineData(true)]
    [InlineData(false)]
    public async Task After_a_server_restart_the_client_replays_the_new_epoch_from_its_start_once_and_in_order(bool recoverNewEpoch)
    {
        var first = await TestServer.StartAsync();
        var port = first.HttpUri.Port;
        await using var proxy = TcpProxy.Start(port);
        MoltBeatWSServer? second = null;
        var options = FastOptions(proxy.WsUri());
        options.RecoverNewEpoch = recoverNewEpoch;
        var client = new MoltBeatWSClient(options);
        try
        {
            var recorder = new ClientRecorder(client);
            await client.ConnectAsync().WaitAsync(Limit);
            var room = UniqueRoom("analytics");
            await client.SubscribeAsync(room).WaitAsync(Limit);
            first.Server.Broadcast(room, "tick", new { n = 1 });
            await Eventually(() => recorder.Numbers().Count == 1, "the first event");

            proxy.Refusing = true;
            proxy.KillAll();
            await first.DisposeAsync();
            await Eventually(() => client.State == MoltBeatWSClientState.Reconnecting, "Reconnecting");
            second = new MoltBeatWSServer(new WSServerOptions { Port = port, Host = "127.0.0.1", CloseTimeout = TimeSpan.FromSeconds(2) });
            await second.StartAsync().WaitAsync(Limit);
            // Published by the restarted server before the client is back: only its new epoch has them.
            for (var n = 2; n <= 4; n++)
                second.Broadcast(room, "tick", new { n });
            proxy.Refusing = false;

            await Eventually(() => recorder.RecoveryFailed.Count == 1, "the resubscription");
            second.Broadcast(room, "tick", new { n = 5 });
            int[] expected = recoverNewEpoch ? [1, 2, 3, 4, 5] : [1, 5];
            await Eventually(() => recorder.Numbers().Count >= expected.Length, "the events of the new epoch", diagnostics: () => string.Join(",", recorder.Numbers()));
            // Nothing more arrives: no event twice.
            await Task.Delay(200);
            Assert.Equal(expected, recorder.Numbers());
            var failed = recorder.RecoveryFailed.Single();
            Assert.Equal(3, failed.Current.Offset);
            Assert.Equal(new StreamPosition(failed.Current.Epoch, 4), client.GetPosition(room));
            Assert.Empty(recorder.Errors);
        }
        finally
        {
            await client.DisposeAsync();
            if (second is not null)
                await second.DisposeAsync();
            await first.DisposeAsync();
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task Client_recovers_events_published_while_its_connection_was_cut_exactly_once_and_in_order()
    {
        await using var server = await TestServer.StartAsync();
        await using var proxy = TcpProxy.Start(server.HttpUri.Port);
        await using var client = new MoltBeatWSClient(FastOptions(proxy.WsUri()));
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);
        var parent = UniqueRoom("analytics");
        var child = parent + ":agents";
        await client.SubscribeAsync(parent).WaitAsync(Limit);
        await client.SubscribeAsync(child).WaitAsync(Limit);
        for (var n = 1; n <= 3; n++)
            server.Server.Broadcast(child, "tick", new { n });
        await Eventually(() => recorder.Numbers().Count == 3, "the first events");

        proxy.Refusing = true;
        proxy.KillAll();
        await Eventually(() => client.State == MoltBeatWSClientState.Reconnecting, "Reconnecting");
        // Published while the client cannot connect: only the server's history has them.
        for (var n = 4; n <= 10; n++)
            server.Server.Broadcast(n % 2 == 0 ? child : parent, "tick", new { n });
        await Eventually(() => proxy.Accepted >= 3, "a few refused reconnect attempts");
        proxy.Refusing = false;

        await Eventually(() => recorder.Numbers().Count == 10 && client.IsConnected, "the recovered events");
        for (var n = 11; n <= 12; n++)
            server.Server.Broadcast(child, "tick", new { n });
        await Eventually(() => recorder.Numbers().Count >= 12, "the live events");
        await Task.Delay(200);

        Assert.Equal(Enumerable.Range(1, 12), recorder.Numbers());
        Assert.Empty(recorder.RecoveryFailed);
        Assert.All(recorder.Subscribed.Skip(2), s => Assert.True(s.Recovered));
        var lost = Assert.Single(recorder.Disconnected);
        Assert.True(lost.WillReconnect);
        Assert.Null(lost.CloseCode); // cut, not closed
        Assert.Equal(2, recorder.Connected.Count);
        Assert.Equal(12, client.GetPosition(parent)!.Value.Offset);
        Assert.Equal(9, client.GetPosition(child)!.Value.Offset); // 1-3, the even 4-10, 11-12
        Assert.Empty(recorder.Errors);
    }

    [Fact(Timeout = 30_000)]
    public async Task Resubscription_the_server_fails_is_retried_on_the_same_connection_and_recovers_what_was_missed()
    {
        await using var engine = new FailingSubscribesEngine(new MoltBeat.WebSocket.Engine.InMemoryEngine());
        await using var server = await TestServer.StartAsync(engine: engine);
        await using var proxy = TcpProxy.Start(server.HttpUri.Port);
        await using var client = new MoltBeatWSClient(FastOptions(proxy.WsUri()));
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);
        var room = UniqueRoom();
        await client.SubscribeAsync(room).WaitAsync(Limit);
        server.Server.Broadcast(room, "tick", new { n = 1 });
        await Eventually(() => recorder.Numbers().Count == 1, "the first event");

        proxy.Refusing = true;
        proxy.KillAll();
        await Eventually(() => client.State == MoltBeatWSClientState.Reconnecting, "Reconnecting");
        for (var n = 2; n <= 3; n++)
            server.Server.Broadcast(room, "tick", new { n });
        // The server fails the next two subscribes on its side, as a Redis engine does while Redis is out of reach.
        engine.FailNextSubscribes = 2;
        proxy.Refusing = false;

        await Eventually(() => recorder.Numbers().Count == 3, "the missed events, after the failed resubscriptions");
        server.Server.Broadcast(room, "tick", new { n = 4 });
        await Eventually(() => recorder.Numbers().Count == 4, "a live event");
        Assert.Equal([1, 2, 3, 4], recorder.Numbers());
        Assert.Equal(2, recorder.Errors.Count);
        Assert.All(recorder.Errors, e => Assert.Equal("internal", Assert.IsType<MoltBeatRequestException>(e).ErrorCode));
        Assert.True(recorder.Subscribed.Last().Recovered);
        Assert.Equal(2, recorder.Connected.Count); // retried on the same connection, not by reconnecting
        Assert.Single(recorder.Disconnected);
    }

    [Fact(Timeout = 30_000)]
    public async Task Heartbeat_detects_a_server_that_stops_answering_and_reconnects()
    {
        await using var server = await TestServer.StartAsync();
        await using var proxy = TcpProxy.Start(server.HttpUri.Port);
        var options = FastOptions(proxy.WsUri());
        options.HeartbeatInterval = TimeSpan.FromMilliseconds(300);
        await using var client = new MoltBeatWSClient(options);
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);
        var room = UniqueRoom();
        await client.SubscribeAsync(room).WaitAsync(Limit);
        // A few heartbeats pass on a healthy connection without any false alarm.
        await Task.Delay(1000);
        Assert.Empty(recorder.Disconnected);

        proxy.StallExisting(); // half-open: nothing is closed, nothing arrives

        // Detected by the heartbeat (the reason says so) well before Eventually gives up; a wall-clock lower
        // bound would be flaky, as a ping sent just before the stall may be the one that goes unanswered.
        await Eventually(() => !recorder.Disconnected.IsEmpty, "the dead connection to be detected");
        var lost = recorder.Disconnected.Single();
        Assert.True(lost.WillReconnect);
        Assert.Contains("heartbeat", lost.Reason, StringComparison.OrdinalIgnoreCase);
        await Eventually(() => recorder.Connected.Count == 2 && recorder.Subscribed.Count == 2, "the reconnect");
        server.Server.Broadcast(room, "tick", new { n = 1 });
        await Eventually(() => recorder.Numbers().Count == 1, "an event on the new connection");
    }

    [Fact(Timeout = 30_000)]
    public async Task ReconnectFailed_is_raised_when_the_attempts_run_out()
    {
        var server = await TestServer.StartAsync();
        var options = ThreeQuickAttempts(server.WsUri());
        await using var client = new MoltBeatWSClient(options);
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);

        await server.DisposeAsync(); // the port is closed from now on

        await Eventually(() => !recorder.ReconnectFailed.IsEmpty, "ReconnectFailed");
        var failed = recorder.ReconnectFailed.Single();
        Assert.Equal(3, failed.Attempts);
        Assert.IsType<MoltBeatConnectionException>(failed.LastException);
        await Eventually(() => client.State == MoltBeatWSClientState.Disconnected, "Disconnected");
        Assert.Equal(
            [MoltBeatWSClientState.Connecting, MoltBeatWSClientState.Connected, MoltBeatWSClientState.Reconnecting, MoltBeatWSClientState.Disconnected],
            recorder.States);
    }

    [Fact(Timeout = 30_000)]
    public async Task Reconnecting_is_raised_before_each_attempt_with_its_number_and_delay()
    {
        var server = await TestServer.StartAsync();
        var options = ThreeQuickAttempts(server.WsUri());
        await using var client = new MoltBeatWSClient(options);
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);

        await server.DisposeAsync(); // 1001, then the port stays closed

        await Eventually(() => !recorder.ReconnectFailed.IsEmpty, "ReconnectFailed");
        var attempts = recorder.Reconnecting;
        Assert.Equal([1, 2, 3], attempts.Select(a => a.Attempt));
        Assert.All(attempts, a => Assert.InRange(a.Delay, TimeSpan.Zero, options.MaxReconnectDelay));
        Assert.All(attempts, a => Assert.Equal(1001, a.CloseCode));
    }

    [Fact(Timeout = 30_000)]
    public async Task Client_does_not_reconnect_after_4001()
    {
        var accept = true;
        var authentications = 0;
        await using var server = await TestServer.StartAsync(o => o.AuthenticateClient = (_, _) =>
        {
            Interlocked.Increment(ref authentications);
            return ValueTask.FromResult(Volatile.Read(ref accept) ? new WSUser("u1") : null);
        });
        await using var proxy = TcpProxy.Start(server.HttpUri.Port);
        var options = FastOptions(proxy.WsUri());
        options.Token = "token-1";
        await using var client = new MoltBeatWSClient(options);
        var recorder = new ClientRecorder(client);
        var info = await client.ConnectAsync().WaitAsync(Limit);
        Assert.Equal("u1", info.UserId);

        Volatile.Write(ref accept, false); // the token is revoked
        proxy.KillAll();

        await Eventually(() => !recorder.ReconnectFailed.IsEmpty, "ReconnectFailed");
        Assert.Equal(4001, Assert.IsType<MoltBeatConnectionException>(recorder.ReconnectFailed.Single().LastException).CloseCode);
        await Task.Delay(400);
        Assert.Equal(2, Volatile.Read(ref authentications)); // one refused attempt, then no more
        Assert.Equal(MoltBeatWSClientState.Disconnected, client.State);
    }

    [Fact(Timeout = 30_000)]
    public async Task Client_stays_disconnected_after_its_token_expired_without_a_token_provider()
    {
        var authenticator = new JwtAuthenticator(new JwtAuthOptions { Secret = Tokens.Secret });
        await using var server = await TestServer.StartAsync(o => o.AuthenticateClient = authenticator.AsDelegate());
        var options = FastOptions(server.WsUri());
        options.Token = Tokens.Create("42", TimeSpan.FromSeconds(1.5));
        await using var client = new MoltBeatWSClient(options);
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);

        await Eventually(() => !recorder.Disconnected.IsEmpty, "the expiry");

        var lost = recorder.Disconnected.Single();
        Assert.Equal(4001, lost.CloseCode);
        Assert.Equal("token_expired", lost.Reason);
        Assert.False(lost.WillReconnect);
        await Task.Delay(300);
        Assert.Equal(MoltBeatWSClientState.Disconnected, client.State);
        Assert.Single(recorder.Connected);
    }

    [Fact(Timeout = 30_000)]
    public async Task Token_is_refreshed_on_the_open_connection_before_it_expires()
    {
        var authenticator = new JwtAuthenticator(new JwtAuthOptions { Secret = Tokens.Secret });
        await using var server = await TestServer.StartAsync(o => o.AuthenticateClient = authenticator.AsDelegate());
        var firstExpiry = DateTimeOffset.UtcNow.AddSeconds(3);
        var calls = 0;
        var options = FastOptions(server.WsUri());
        options.TokenRefreshMargin = TimeSpan.FromSeconds(1);
        options.TokenProvider = _ => ValueTask.FromResult<string?>(
            Interlocked.Increment(ref calls) == 1 ? Tokens.Create("42", firstExpiry - DateTimeOffset.UtcNow) : Tokens.Create("42", TimeSpan.FromHours(1)));
        await using var client = new MoltBeatWSClient(options);
        var recorder = new ClientRecorder(client);
        var info = await client.ConnectAsync().WaitAsync(Limit);
        Assert.Equal("42", info.UserId);
        var room = UniqueRoom();
        await client.SubscribeAsync(room).WaitAsync(Limit);

        await Eventually(() => Volatile.Read(ref calls) >= 2, "the refresh");
        // Past the first token's expiry: the server would have closed with 4001 token_expired.
        var wait = firstExpiry.AddSeconds(1.2) - DateTimeOffset.UtcNow;
        if (wait > TimeSpan.Zero)
            await Task.Delay(wait);

        Assert.True(client.IsConnected);
        Assert.Empty(recorder.Disconnected);
        Assert.Single(recorder.Connected);
        Assert.Equal(info.ClientId, client.ConnectionInfo!.ClientId);
        server.Server.Broadcast(room, "tick", new { n = 1 });
        await Eventually(() => recorder.Numbers().Count == 1, "an event after the refresh");
        Assert.Empty(recorder.Errors);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_refresh_that_narrows_the_rights_raises_Unsubscribed_with_the_reason_and_the_room_is_forgotten()
    {
        var authenticator = new JwtAuthenticator(new JwtAuthOptions { Secret = Tokens.Secret });
        await using var server = await TestServer.StartAsync(o => o.AuthenticateClient = authenticator.AsDelegate());
        var kept = UniqueRoom("tenant:1");
        var lost = UniqueRoom("tenant:2");
        var calls = 0;
        var options = FastOptions(server.WsUri());
        options.TokenRefreshMargin = TimeSpan.FromSeconds(1);
        options.TokenProvider = _ => ValueTask.FromResult<string?>(Interlocked.Increment(ref calls) == 1
            ? Tokens.Create("42", TimeSpan.FromSeconds(3), ["tenant:1", "tenant:2"])
            : Tokens.Create("42", TimeSpan.FromHours(1), ["tenant:1"]));
        await using var client = new MoltBeatWSClient(options);
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);
        await client.SubscribeAsync(kept).WaitAsync(Limit);
        await client.SubscribeAsync(lost).WaitAsync(Limit);

        await Eventually(() => !recorder.UnsubscribedWithReason.IsEmpty, "the removal after the refresh");
        var removed = Assert.Single(recorder.UnsubscribedWithReason);
        Assert.Equal(lost, removed.Room);
        Assert.Equal(UnsubscribeReasons.Forbidden, removed.Reason);
        Assert.Equal([kept], client.Subscriptions);
        server.Server.Broadcast(lost, "tick", new { n = 1 });
        server.Server.Broadcast(kept, "tick", new { n = 2 });
        await Eventually(() => recorder.Numbers().Count >= 1, "the event of the kept room");
        await Task.Delay(200);
        Assert.Equal([2], recorder.Numbers());
        Assert.Empty(recorder.Errors);
    }

    [Fact(Timeout = 30_000)]
    public async Task Client_reconnects_after_4001_when_the_token_provider_yields_a_new_token()
    {
        var authenticator = new JwtAuthenticator(new JwtAuthOptions { Secret = Tokens.Secret });
        await using var server = await TestServer.StartAsync(o => o.AuthenticateClient = authenticator.AsDelegate());
        // The provider keeps handing out the short token until it has expired, so no refresh happens in time.
        var shortToken = Tokens.Create("42", TimeSpan.FromSeconds(1.5));
        var shortExpiry = TokenExpiryOf(shortToken);
        var options = FastOptions(server.WsUri());
        options.TokenProvider = _ => ValueTask.FromResult<string?>(
            DateTimeOffset.UtcNow < shortExpiry ? shortToken : Tokens.Create("42", TimeSpan.FromHours(1)));
        await using var client = new MoltBeatWSClient(options);
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);
        var room = UniqueRoom();
        await client.SubscribeAsync(room).WaitAsync(Limit);

        await Eventually(() => recorder.Connected.Count == 2 && client.IsConnected, "the reconnect with a new token", TimeSpan.FromSeconds(8));

        var lost = recorder.Disconnected.Single();
        Assert.Equal(4001, lost.CloseCode);
        Assert.True(lost.WillReconnect);
        Assert.Empty(recorder.ReconnectFailed);
        await Eventually(() => recorder.Subscribed.Count == 2, "the resubscription");
        server.Server.Broadcast(room, "tick", new { n = 1 });
        await Eventually(() => recorder.Numbers().Count == 1, "an event on the new connection");
    }

    private static DateTimeOffset TokenExpiryOf(string token) =>
        new Microsoft.IdentityModel.JsonWebTokens.JsonWebToken(token).ValidTo;
}
