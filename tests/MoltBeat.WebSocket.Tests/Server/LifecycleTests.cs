using System.Net.Http.Json;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using MoltBeat.WebSocket.Analytics;
using MoltBeat.WebSocket.Rooms;
using MoltBeat.WebSocket.Server;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Tests.Server;

public sealed class LifecycleTests
{
    [Fact]
    public async Task Silent_client_is_closed_with_4010_after_two_heartbeat_intervals()
    {
        var time = TestClock.Create();
        await using var server = await TestServer.StartAsync(o => o.HeartbeatInterval = TimeSpan.FromSeconds(30), time);
        await using var client = await server.ConnectAsync();
        // The client does not read, so it cannot answer the server's pings.
        for (var i = 0; i < 5; i++)
        {
            time.Advance(TimeSpan.FromSeconds(15));
            await Task.Delay(50);
        }
        var (status, reason, _) = await client.ReceiveCloseAsync();
        Assert.Equal(4010, (int?)status);
        Assert.Equal("heartbeat_timeout", reason);
    }

    [Fact]
    public async Task Client_that_only_answers_pings_stays_connected_past_many_intervals()
    {
        var time = TestClock.Create();
        await using var server = await TestServer.StartAsync(o => o.HeartbeatInterval = TimeSpan.FromSeconds(30), time);
        await using var client = await server.ConnectAsync();
        // ClientWebSocket answers pings only while a receive is pending.
        var receiving = client.Socket.ReceiveAsync(new byte[1024], CancellationToken.None);
        for (var i = 0; i < 12; i++)
        {
            time.Advance(TimeSpan.FromSeconds(15));
            // Real time for the ping to go out and its pong to come back before the clock moves on: 50 ms was too
            // little while the whole suite loads both cores (the server then saw two silent intervals and closed).
            await Task.Delay(250);
        }
        Assert.False(receiving.IsCompleted, "no message was expected, only pings");
        Assert.Equal(WebSocketState.Open, client.Socket.State);
        Assert.Equal(1, server.Server.GetStats().TotalClients);
    }

    [Fact]
    public async Task Close_delivers_queued_events_then_closes_every_client_with_1001()
    {
        var server = await TestServer.StartAsync();
        await using var a = await server.ConnectAsync("batch=1");
        await using var b = await server.ConnectAsync();
        await a.SubscribeAsync("shutdown:room");
        await b.SubscribeAsync("shutdown:room");
        for (var i = 0; i < 500; i++)
            server.Server.Broadcast("shutdown:room", "tick", new { i });
        var closing = server.Server.CloseAsync();
        foreach (var client in new[] { a, b })
        {
            var (status, _, before) = await client.ReceiveCloseAsync();
            Assert.Equal(1001, (int?)status);
            Assert.Equal(Enumerable.Range(0, 500), before.Select(m => m.GetProperty("data").GetProperty("i").GetInt32()));
        }
        await closing.WaitAsync(TimeSpan.FromSeconds(10));
        await server.DisposeAsync();
    }

    [Fact]
    public async Task Hosted_in_an_aspnetcore_app_the_server_is_injectable_into_minimal_api_handlers()
    {
        // The seed's "With Hono" example as a minimal API.
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddMoltBeatWebSocket(o => o.HeartbeatInterval = TimeSpan.FromSeconds(30));
        await using var app = builder.Build();
        app.MapGet("/api/health", () => Results.Ok(new { status = "ok" }));
        app.MapMoltBeatWebSocket("/ws");
        app.MapPost("/api/agents", (AgentPayload agent, MoltBeatWSServer wsServer) =>
        {
            wsServer.Broadcast(WSRoom.AgentsOverview, AnalyticsEvent.AgentCreated, agent);
            return Results.Ok(agent);
        });
        await app.StartAsync();
        var http = new Uri(app.Urls.First());

        await using var client = await RawClient.ConnectAsync(new Uri($"ws://{http.Authority}/ws"));
        Assert.Equal("connected", (await client.ReceiveAsync()).GetProperty("type").GetString());
        await client.SubscribeAsync(WSRoom.AgentsOverview);
        using var httpClient = new HttpClient { BaseAddress = http };
        Assert.True((await httpClient.GetAsync("/api/health")).IsSuccessStatusCode);
        var response = await httpClient.PostAsJsonAsync("/api/agents", new AgentPayload("123", "Agent Smith", "ACTIVE", 1));
        Assert.True(response.IsSuccessStatusCode);

        var evt = await client.ReceiveEventAsync();
        Assert.Equal("agent:created", evt.GetProperty("event").GetString());
        Assert.Equal("Agent Smith", evt.GetProperty("data").GetProperty("name").GetString());

        // Stopping the app closes its clients with 1001 (graceful shutdown).
        var stopping = app.StopAsync();
        Assert.Equal(1001, (int?)(await client.ReceiveCloseAsync()).Status);
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Event_broadcaster_publishes_each_analytics_event_to_its_overview_and_entity_room_once()
    {
        await using var server = await TestServer.StartAsync();
        await using var overview = await server.ConnectAsync();
        await using var entity = await server.ConnectAsync();
        await using var both = await server.ConnectAsync();
        await overview.SubscribeAsync(WSRoom.AgentsOverview);
        await entity.SubscribeAsync(WSRoom.CreateEntityRoom("agent", "123"));
        await both.SubscribeAsync(WSRoom.Analytics);
        await both.SubscribeAsync(WSRoom.CreateEntityRoom("agent", "123"));
        var broadcaster = new EventBroadcaster(server.Server.Broadcast);

        broadcaster.AgentCreated(new AgentPayload("123", "Agent Smith", "ACTIVE", 1));

        foreach (var client in new[] { overview, entity, both })
        {
            var evt = await client.ReceiveEventAsync();
            Assert.Equal(AnalyticsEvent.AgentCreated, evt.GetProperty("event").GetString());
            Assert.Equal(["analytics:agents", "agent:123"], evt.GetProperty("rooms").EnumerateArray().Select(r => r.GetString()!));
        }
        await both.AssertNothingAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task Event_broadcaster_with_keys_publishes_each_event_with_its_entitys_key_and_a_subscriber_sees_it()
    {
        var published = new List<(string Event, string? Key)>();
        var b = EventBroadcaster.WithKeys((_, evt, _, key) => published.Add((evt, key)));
        b.AgentUpdated(new("a7", "n", "ACTIVE", 1));
        b.PostLiked(new("p3", "a7", 42, 1));
        b.MetricsUpdated(new(new Dictionary<string, double> { ["rps"] = 1, ["cpu"] = 2 }, 1));
        b.TrendingTopicAdded(new("#ai", 9, 1));
        b.AlertCreated(new("al9", "critical", "m", 1));
        b.SystemHealth(new("ok", [], 1));
        b.SystemMaintenanceStart(new("m", 1));
        Assert.Equal(
            [("agent:updated", "a7"), ("post:liked", "p3"), ("metrics:updated", "cpu,rps"), ("trending:added", "#ai"), ("alert:created", "al9"), ("system:health", "health"), ("system:maintenance_start", null)],
            published);

        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        await client.SubscribeAsync(WSRoom.MetricsOverview);
        EventBroadcaster.WithKeys(server.Server.Broadcast).MetricsUpdated(new(new Dictionary<string, double> { ["cpu"] = 0.5 }, 1));
        Assert.Equal("cpu", (await client.ReceiveEventAsync()).GetProperty("key").GetString());
    }

    [Fact]
    public async Task Event_broadcaster_routes_every_analytics_event()
    {
        var published = new List<(string[] Rooms, string Event)>();
        var b = new EventBroadcaster((rooms, evt, _) => published.Add(([.. rooms], evt)));
        b.AgentCreated(new("1", "n", "ACTIVE", 1));
        b.AgentUpdated(new("1", "n", "ACTIVE", 1));
        b.AgentDeleted(new("1", "n", "ACTIVE", 1));
        b.AgentStatusChanged(new("1", "IDLE", "ACTIVE", 1));
        b.PostCreated(new("2", "1", "t", 1));
        b.PostUpdated(new("2", "1", "t", 1));
        b.PostLiked(new("2", "1", 42, 1));
        b.PostCommented(new("2", "1", "c", 3, 1));
        b.MetricsUpdated(new(new Dictionary<string, double> { ["x"] = 1 }, 1));
        b.TrendingTopicAdded(new("#ai", 9, 1));
        b.AlertCreated(new("9", "critical", "m", 1));
        b.AlertResolved(new("9", "warning", "m", 1));
        b.SystemHealth(new("healthy", [new("db", "up")], 1));
        b.SystemMaintenanceStart(new("soon", 1));

        Assert.Equal(AnalyticsEvent.All, published.Select(p => p.Event));
        Assert.All(published.Take(4), p => Assert.Equal(["analytics:agents", "agent:1"], p.Rooms));
        Assert.All(published.Skip(4).Take(4), p => Assert.Equal(["analytics:posts", "post:2"], p.Rooms));
        Assert.Equal(["analytics:metrics"], published[8].Rooms);
        Assert.Equal(["alerts:critical", "alert:9"], published[10].Rooms);
        Assert.Equal(["alerts", "alert:9"], published[11].Rooms);
        Assert.Equal(["system"], published[12].Rooms);
    }
}
