using System.Collections.Concurrent;
using System.Net;
using MoltBeat.WebSocket.Auth;
using MoltBeat.WebSocket.Client;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Rooms;
using MoltBeat.WebSocket.Tests.Infrastructure;
using static MoltBeat.WebSocket.Tests.Client.ClientTestKit;

namespace MoltBeat.WebSocket.Tests.Client;

public sealed class ClientConnectionTests
{
    public sealed record AgentPayload(string Id, string Name, string Status, long Timestamp);

    public sealed record MetricsPayload(int ActiveAgents, double PostsPerMinute);

    [Fact(Timeout = 30_000)]
    public async Task Seed_example_connects_subscribes_and_receives_typed_events_once()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = new MoltBeatWSClient(new MoltBeatWSClientOptions { Url = server.WsUri() });
        var recorder = new ClientRecorder(client);
        var agents = new ConcurrentQueue<(AgentPayload? Agent, ReceivedEvent Meta)>();
        var metrics = new ConcurrentQueue<MetricsPayload?>();
        client.On<AgentPayload>("agent:created", (agent, meta) => agents.Enqueue((agent, meta)));
        client.On<MetricsPayload>("metrics:updated", (m, _) => metrics.Enqueue(m));

        var info = await client.ConnectAsync().WaitAsync(Limit);
        Assert.StartsWith("c_", info.ClientId);
        Assert.True(client.IsConnected);
        Assert.Equal(MoltBeatWSClientState.Connected, client.State);
        Assert.Equal(TimeSpan.FromSeconds(30), info.HeartbeatInterval);

        var subscribed = await client.SubscribeAsync(WSRoom.Analytics).WaitAsync(Limit);
        Assert.Equal(WSRoom.Analytics, subscribed.Room);
        Assert.Equal(0, subscribed.Offset);
        Assert.Null(subscribed.Recovered);
        await client.SubscribeAsync(WSRoom.AgentsOverview).WaitAsync(Limit);

        server.Server.Broadcast(WSRoom.AgentsOverview, "agent:created", new { id = "123", name = "Agent Smith", status = "ACTIVE", timestamp = 1764170000123 });
        server.Server.Broadcast(WSRoom.MetricsOverview, "metrics:updated", new { activeAgents = 5, postsPerMinute = 1.5 });

        await Eventually(() => !agents.IsEmpty && !metrics.IsEmpty, "the typed handlers");
        var (agent, meta) = Assert.Single(agents);
        Assert.Equal(new AgentPayload("123", "Agent Smith", "ACTIVE", 1764170000123), agent);
        Assert.Equal(WSRoom.AgentsOverview, meta.Room);
        Assert.Equal(1, meta.Offsets[WSRoom.AgentsOverview]);
        Assert.NotNull(meta.Id);
        Assert.Equal(new MetricsPayload(5, 1.5), Assert.Single(metrics));
        // Subscribed to analytics and analytics:agents: still one copy of the event, through the generic Event too.
        await Task.Delay(200);
        Assert.Equal(["agent:created", "metrics:updated"], recorder.Events.Select(e => e.Event));
        Assert.Single(recorder.Connected);
        Assert.False(recorder.Connected.Single().IsReconnect);
        Assert.Equal(2, recorder.Subscribed.Count);
        Assert.Equal(1, client.GetPosition(WSRoom.AgentsOverview)!.Value.Offset);
        Assert.Equal(2, client.GetPosition(WSRoom.Analytics)!.Value.Offset);
        Assert.Empty(recorder.Errors);
    }

    [Fact(Timeout = 30_000)]
    public async Task ConnectAsync_fails_with_4001_when_the_token_is_refused_and_does_not_retry()
    {
        var attempts = 0;
        await using var server = await TestServer.StartAsync(o => o.AuthenticateClient = (_, _) =>
        {
            Interlocked.Increment(ref attempts);
            return ValueTask.FromResult<WSUser?>(null);
        });
        var options = FastOptions(server.WsUri());
        options.Token = "not-a-valid-token";
        await using var client = new MoltBeatWSClient(options);

        var error = await Assert.ThrowsAsync<MoltBeatConnectionException>(() => client.ConnectAsync().WaitAsync(Limit));

        Assert.Equal(4001, error.CloseCode);
        Assert.Equal(MoltBeatWSClientState.Disconnected, client.State);
        await Task.Delay(300);
        Assert.Equal(1, Volatile.Read(ref attempts));
    }

    [Fact(Timeout = 30_000)]
    public async Task ConnectAsync_reports_http_403_when_the_origin_is_refused()
    {
        await using var server = await TestServer.StartAsync(o => o.AllowedOrigins.Add("https://good.example"));
        var options = FastOptions(server.WsUri());
        options.ConfigureWebSocket = ws => ws.SetRequestHeader("Origin", "https://evil.example");
        await using var client = new MoltBeatWSClient(options);

        var error = await Assert.ThrowsAsync<MoltBeatConnectionException>(() => client.ConnectAsync().WaitAsync(Limit));

        Assert.Equal(HttpStatusCode.Forbidden, error.StatusCode);
        Assert.Null(error.CloseCode);
        Assert.Equal(MoltBeatWSClientState.Disconnected, client.State);
    }

    [Fact(Timeout = 30_000)]
    public async Task ConnectAsync_reports_http_503_when_the_server_is_full()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxConnections = 1);
        await using var first = await server.ConnectAsync();
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));

        var error = await Assert.ThrowsAsync<MoltBeatConnectionException>(() => client.ConnectAsync().WaitAsync(Limit));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, error.StatusCode);
    }

    [Fact(Timeout = 30_000)]
    public async Task ConnectAsync_fails_clearly_when_nothing_listens()
    {
        await using var client = new MoltBeatWSClient(FastOptions(new Uri($"ws://127.0.0.1:{ClosedPort()}/ws")));

        var error = await Assert.ThrowsAsync<MoltBeatConnectionException>(() => client.ConnectAsync().WaitAsync(Limit));

        Assert.Null(error.StatusCode);
        Assert.Null(error.CloseCode);
        Assert.NotNull(error.InnerException);
        Assert.Equal(MoltBeatWSClientState.Disconnected, client.State);
        // The client can try again after a failure.
        await Assert.ThrowsAsync<MoltBeatConnectionException>(() => client.ConnectAsync().WaitAsync(Limit));
    }

    [Fact(Timeout = 30_000)]
    public async Task SubscribeAsync_fails_with_the_servers_error_code_and_keeps_the_connection()
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            o.MaxSubscriptionsPerConnection = 2;
            o.AuthorizeSubscription = (_, room, _) => ValueTask.FromResult(!room.StartsWith("admin", StringComparison.Ordinal));
        });
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));
        await client.ConnectAsync().WaitAsync(Limit);

        var forbidden = await Assert.ThrowsAsync<MoltBeatRequestException>(() => client.SubscribeAsync("admin:audit").WaitAsync(Limit));
        var invalid = await Assert.ThrowsAsync<MoltBeatRequestException>(() => client.SubscribeAsync("bad room!").WaitAsync(Limit));
        await client.SubscribeAsync("a").WaitAsync(Limit);
        await client.SubscribeAsync("b").WaitAsync(Limit);
        var tooMany = await Assert.ThrowsAsync<MoltBeatRequestException>(() => client.SubscribeAsync("c").WaitAsync(Limit));

        Assert.Equal(ErrorCodes.Forbidden, forbidden.ErrorCode);
        Assert.Equal("admin:audit", forbidden.Room);
        Assert.Equal(ErrorCodes.InvalidRoom, invalid.ErrorCode);
        Assert.Equal(ErrorCodes.TooManySubscriptions, tooMany.ErrorCode);
        Assert.True(client.IsConnected);
        Assert.Equal(["a", "b"], client.Subscriptions.Order());
    }

    [Fact(Timeout = 30_000)]
    public async Task Subscribe_before_connecting_is_sent_on_connect_and_a_refusal_is_raised_as_Error()
    {
        await using var server = await TestServer.StartAsync(o =>
            o.AuthorizeSubscription = (_, room, _) => ValueTask.FromResult(room != "admin:audit"));
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));
        var recorder = new ClientRecorder(client);
        client.Subscribe(WSRoom.Alerts);
        client.Subscribe("admin:audit");

        await client.ConnectAsync().WaitAsync(Limit);

        await Eventually(() => !recorder.Subscribed.IsEmpty && !recorder.Errors.IsEmpty, "the subscription replies");
        Assert.Equal(WSRoom.Alerts, Assert.Single(recorder.Subscribed).Room);
        Assert.Equal(ErrorCodes.Forbidden, Assert.IsType<MoltBeatRequestException>(Assert.Single(recorder.Errors)).ErrorCode);
        Assert.Equal([WSRoom.Alerts], client.Subscriptions);
        server.Server.Broadcast(WSRoom.CriticalAlerts, "alert:raised", new { n = 1 });
        await Eventually(() => recorder.Numbers("alert:raised").Count == 1, "the alert");
    }

    [Fact(Timeout = 30_000)]
    public async Task A_throwing_handler_is_reported_via_Error_and_later_events_still_arrive()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));
        var recorder = new ClientRecorder(client);
        var handled = new ConcurrentQueue<int>();
        client.On("tick", e =>
        {
            var n = e.Data.GetProperty("n").GetInt32();
            handled.Enqueue(n);
            if (n == 1)
                throw new InvalidOperationException("handler bug");
        });
        await client.ConnectAsync().WaitAsync(Limit);
        var room = UniqueRoom();
        await client.SubscribeAsync(room).WaitAsync(Limit);

        for (var n = 1; n <= 3; n++)
            server.Server.Broadcast(room, "tick", new { n });

        await Eventually(() => handled.Count == 3, "three events");
        Assert.Equal([1, 2, 3], handled);
        Assert.Equal("handler bug", Assert.IsType<InvalidOperationException>(Assert.Single(recorder.Errors)).Message);
        Assert.True(client.IsConnected);
        Assert.Empty(recorder.Disconnected);
    }

    [Fact(Timeout = 30_000)]
    public async Task Typed_handler_can_be_removed_and_bad_data_is_reported()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));
        var recorder = new ClientRecorder(client);
        var seen = new ConcurrentQueue<int>();
        var registration = client.On<int>("count", (n, _) => seen.Enqueue(n));
        await client.ConnectAsync().WaitAsync(Limit);
        var room = UniqueRoom();
        await client.SubscribeAsync(room).WaitAsync(Limit);

        server.Server.Broadcast(room, "count", 1);
        server.Server.Broadcast(room, "count", new { notANumber = true });
        await Eventually(() => recorder.Events.Count == 2, "two events");
        registration.Dispose();
        server.Server.Broadcast(room, "count", 3);
        await Eventually(() => recorder.Events.Count == 3, "the third event");

        Assert.Equal([1], seen);
        Assert.IsType<System.Text.Json.JsonException>(Assert.Single(recorder.Errors));
    }

    [Fact(Timeout = 30_000)]
    public async Task ReadEventsAsync_yields_a_burst_of_batched_events_in_order()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));
        await client.ConnectAsync().WaitAsync(Limit);
        var room = UniqueRoom();
        await client.SubscribeAsync(room).WaitAsync(Limit);
        using var cts = new CancellationTokenSource(Limit);
        var reading = Task.Run(async () =>
        {
            var numbers = new List<int>();
            await foreach (var e in client.ReadEventsAsync(cts.Token))
            {
                numbers.Add(e.Data.GetProperty("n").GetInt32());
                if (numbers.Count == 200)
                    break;
            }
            return numbers;
        });
        await Task.Delay(100); // let the reader register before publishing

        for (var n = 1; n <= 200; n++)
            server.Server.Broadcast(room, "tick", new { n });

        var received = await reading.WaitAsync(Limit);
        Assert.Equal(Enumerable.Range(1, 200), received);
    }

    [Fact(Timeout = 30_000)]
    public async Task Public_methods_can_be_called_from_many_threads_at_once()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));
        await client.ConnectAsync().WaitAsync(Limit);
        var rooms = Enumerable.Range(0, 30).Select(i => $"room:{i}").ToArray();

        var replies = await Task.WhenAll(rooms.Select(room => Task.Run(() => client.SubscribeAsync(room)))).WaitAsync(Limit);
        await Task.WhenAll(rooms.Take(10).Select(room => Task.Run(() => client.UnsubscribeAsync(room)))).WaitAsync(Limit);

        Assert.Equal(rooms, replies.Select(r => r.Room));
        Assert.Equal(rooms.Skip(10).Order(), client.Subscriptions.Order());
        Assert.Equal(20, server.Server.GetStats().TotalRooms);
    }

    [Fact(Timeout = 30_000)]
    public async Task UnsubscribeAsync_stops_the_rooms_events()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);
        var room = UniqueRoom();
        await client.SubscribeAsync(room).WaitAsync(Limit);
        server.Server.Broadcast(room, "tick", new { n = 1 });
        await Eventually(() => recorder.Events.Count == 1, "the first event");

        await client.UnsubscribeAsync(room).WaitAsync(Limit);
        server.Server.Broadcast(room, "tick", new { n = 2 });
        await Task.Delay(200);

        Assert.Equal([1], recorder.Numbers());
        Assert.Equal([room], recorder.Unsubscribed);
        Assert.Empty(client.Subscriptions);
    }

    [Fact(Timeout = 30_000)]
    public async Task DisconnectAsync_closes_with_1000_and_does_not_reconnect()
    {
        await using var server = await TestServer.StartAsync();
        var serverSaw = new TaskCompletionSource<int?>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Server.Disconnected += (_, e) => serverSaw.TrySetResult(e.CloseCode);
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);
        client.Subscribe(WSRoom.System);
        await Eventually(() => recorder.Subscribed.Count == 1, "the subscription");

        await client.DisconnectAsync().WaitAsync(Limit);

        Assert.Equal(1000, await serverSaw.Task.WaitAsync(Limit));
        Assert.Equal(MoltBeatWSClientState.Disconnected, client.State);
        await Eventually(() => recorder.Disconnected.Count == 1, "Disconnected");
        var disconnected = recorder.Disconnected.Single();
        Assert.Equal(1000, disconnected.CloseCode);
        Assert.False(disconnected.WillReconnect);
        await Task.Delay(300);
        Assert.Single(recorder.Connected);
        Assert.Equal(0, server.Server.GetStats().TotalClients);
        Assert.Equal(
            [MoltBeatWSClientState.Connecting, MoltBeatWSClientState.Connected, MoltBeatWSClientState.Disconnected],
            recorder.States);
        // The rooms are kept for the next ConnectAsync.
        Assert.Equal([WSRoom.System], client.Subscriptions);
        await client.ConnectAsync().WaitAsync(Limit);
        await Eventually(() => recorder.Subscribed.Count(s => s.Room == WSRoom.System) == 2, "the resubscription");
    }
}
