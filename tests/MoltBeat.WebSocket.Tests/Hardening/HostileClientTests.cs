using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MoltBeat.WebSocket.Auth;
using MoltBeat.WebSocket.Tests.Client;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Tests.Hardening;

/// <summary>
/// Hostile clients against a real server over real loopback sockets, one behaviour each: slowloris on the
/// upgrade, message floods, half-open TCP, connection churn, and subscriptions that try to reach rooms a
/// user may not see through their parents. Each ends by checking that the server still serves.
/// </summary>
public sealed class HostileClientTests
{
    [Fact]
    public async Task Handshake_trickled_byte_by_byte_is_cut_by_kestrels_request_headers_timeout_while_others_are_served()
    {
        // MoltBeat hosted in an app, as deployed: the app's Kestrel limits apply to the upgrade request.
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, 0);
            k.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(1);
        });
        builder.Services.AddMoltBeatWebSocket(o => o.CloseTimeout = TimeSpan.FromSeconds(2));
        await using var app = builder.Build();
        app.MapMoltBeatWebSocket("/ws");
        await app.StartAsync();
        var port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        var ws = new Uri($"ws://127.0.0.1:{port}/ws");

        // 20 clients trickle the upgrade request, one byte every 100 ms (the whole request would take ~20 s).
        var request = Encoding.ASCII.GetBytes(RawFrameSocket.HandshakeRequest(ws));
        var clock = Stopwatch.StartNew();
        var slow = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
        {
            using var socket = await RawFrameSocket.OpenTcpAsync(ws);
            for (var i = 0; i < request.Length && clock.Elapsed < TimeSpan.FromSeconds(10); i++)
            {
                try
                {
                    await socket.WriteAsync(request.AsMemory(i, 1));
                }
                catch (Exception ex) when (ex is IOException or SocketException)
                {
                    return clock.Elapsed; // cut while writing
                }
                if (socket.Socket.Poll(0, SelectMode.SelectRead))
                    return clock.Elapsed; // the server answered (408) or closed
                await Task.Delay(100);
            }
            return TimeSpan.MaxValue;
        }).Append(ServeAndReturnZeroAsync(ws)));
        Assert.All(slow, t => Assert.True(t < TimeSpan.FromSeconds(5), $"a trickling client was held for {t}"));

        await using var client = await RawClient.ConnectAsync(ws);
        Assert.Equal("connected", (await client.ReceiveAsync()).GetProperty("type").GetString());
        await app.StopAsync();
    }

    /// <summary>While the slow clients trickle, a normal client connects, pings, and leaves.</summary>
    private static async Task<TimeSpan> ServeAndReturnZeroAsync(Uri ws)
    {
        await Task.Delay(300);
        await using var client = await RawClient.ConnectAsync(ws);
        Assert.Equal("connected", (await client.ReceiveAsync()).GetProperty("type").GetString());
        Assert.Equal("pong", (await client.RequestAsync("ping")).GetProperty("type").GetString());
        return TimeSpan.Zero;
    }

    [Fact]
    public async Task Ten_thousand_subscribe_and_unsubscribe_messages_a_second_are_cut_off_with_4008_after_a_bounded_number_of_replies()
    {
        await using var server = await HardServer.StartAsync(); // default limits: burst 100, 50/s, 20 strikes
        await using var bystander = await server.ConnectAsync();
        await bystander.SubscribeAsync("flood:1");
        await using var flooder = await server.ConnectAsync();

        var clock = Stopwatch.StartNew();
        var closing = flooder.ReceiveCloseAsync(TimeSpan.FromSeconds(10));
        var sent = 0;
        // At most 10 000 messages, paced at 1 000 per 100 ms: 10 000 a second.
        for (var batch = 0; batch < 10 && !closing.IsCompleted; batch++)
        {
            var started = clock.Elapsed;
            try
            {
                for (var i = 0; i < 1000 && !closing.IsCompleted; i++, sent++)
                    await flooder.SendAsync($"{{\"type\":\"{(i % 2 == 0 ? "subscribe" : "unsubscribe")}\",\"room\":\"flood:1\",\"id\":{sent + 1}}}");
            }
            catch (WebSocketException)
            {
                break; // the server closed
            }
            var left = TimeSpan.FromMilliseconds(100) - (clock.Elapsed - started);
            if (left > TimeSpan.Zero)
                await Task.Delay(left);
        }
        var (status, _, before) = await closing;
        Assert.Equal(4008, (int?)status);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        // Answered: the burst, what refilled meanwhile, and the rate_limited strikes; everything else was dropped.
        var answered = before.Count(m => m.GetProperty("type").GetString() is "subscribed" or "unsubscribed");
        var refusals = before.Count(m => m.TryGetProperty("code", out var c) && c.GetString() == "rate_limited");
        Assert.InRange(answered, 1, 100 + 50 * ((int)clock.Elapsed.TotalSeconds + 1));
        Assert.InRange(refusals, 1, 20);

        // The flooder's subscription is gone with it; the bystander still gets the room's events.
        await server.Server.PublishAsync(["flood:1"], "after", 1);
        Assert.Equal("after", (await bystander.ReceiveEventAsync()).GetProperty("event").GetString());
        Assert.Equal(1, server.Server.GetStats().Rooms.Single(r => r.Room == "flood:1").Subscribers);
        server.AssertNoErrorsLogged();
    }

    [Fact]
    public async Task Client_that_vanishes_without_a_fin_is_closed_by_the_heartbeat_and_its_connection_freed()
    {
        var time = TestClock.Create();
        await using var server = await HardServer.StartAsync(o =>
        {
            o.HeartbeatInterval = TimeSpan.FromSeconds(10);
            o.CloseTimeout = TimeSpan.FromSeconds(1);
        }, time);
        await using var proxy = TcpProxy.Start(server.Server.Urls[0].Port);
        var vanishing = await RawClient.ConnectAsync(proxy.WsUri());
        Assert.Equal("connected", (await vanishing.ReceiveAsync()).GetProperty("type").GetString());
        await vanishing.SubscribeAsync("agent:1");
        await using var alive = await server.ConnectAsync();
        await alive.SubscribeAsync("agent:1");

        // The network eats everything from now on, both ways: no FIN, no RST, nothing.
        proxy.StallExisting();
        for (var second = 0; second < 25; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            // The live client keeps talking, so only the vanished one goes silent for two intervals.
            Assert.Equal("pong", (await alive.RequestAsync("ping")).GetProperty("type").GetString());
        }
        var waited = Stopwatch.StartNew();
        while (server.OpenConnections > 1 && waited.Elapsed < TimeSpan.FromSeconds(5))
            await Task.Delay(20);
        Assert.Equal(1, server.OpenConnections);
        Assert.Contains(server.Logs.Entries, e => e.Message.Contains("with 4010", StringComparison.Ordinal));
        Assert.Equal(1, server.Server.GetStats().Rooms.Single(r => r.Room == "agent:1").Subscribers);
        vanishing.Socket.Abort();
        vanishing.Socket.Dispose();
        server.AssertNoErrorsLogged();
    }

    [Fact]
    public async Task Two_thousand_connections_opened_and_dropped_in_a_loop_leave_nothing_behind_and_the_server_serves()
    {
        await using var server = await HardServer.StartAsync();
        var fdsBefore = OpenFileDescriptors();
        var clock = Stopwatch.StartNew();
        var next = -1;
        var failures = 0;
        await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < 2000 && clock.Elapsed < TimeSpan.FromSeconds(20))
            {
                try
                {
                    await ChurnOnceAsync(server.WsUri("batch=0"), i % 5);
                }
                catch (Exception ex) when (ex is WebSocketException or IOException or SocketException or OperationCanceledException)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        })));
        Assert.True(next >= 2000, $"only {next} connections in {clock.Elapsed}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
        Assert.True(failures < 20, $"{failures} connection attempts failed");

        await server.AssertNoConnectionsAsync(TimeSpan.FromSeconds(10));
        await server.AssertServesANewClientAsync();
        // Nothing leaks a socket: the process holds about as many descriptors as before (other tests run alongside).
        var fdsAfter = OpenFileDescriptors();
        Assert.True(fdsAfter - fdsBefore < 500, $"file descriptors {fdsBefore} -> {fdsAfter}");
        server.AssertNoErrorsLogged();
    }

    /// <summary>One short-lived client, dropped in one of five ways.</summary>
    private static async Task ChurnOnceAsync(Uri ws, int mode)
    {
        switch (mode)
        {
            case 0: // a polite client: connected, then the close handshake
                {
                    await using var client = await RawClient.ConnectAsync(ws);
                    await client.ReceiveAsync();
                    break;
                }
            case 1: // connected, then gone without a close frame
                {
                    var client = await RawClient.ConnectAsync(ws);
                    client.Socket.Abort();
                    client.Socket.Dispose();
                    break;
                }
            case 2: // upgraded, then a TCP reset
                {
                    var socket = await RawFrameSocket.ConnectAsync(ws);
                    socket.Reset();
                    break;
                }
            case 3: // half a handshake, then gone
                {
                    using var socket = await RawFrameSocket.OpenTcpAsync(ws);
                    var request = Encoding.ASCII.GetBytes(RawFrameSocket.HandshakeRequest(ws));
                    await socket.WriteAsync(request.AsMemory(0, request.Length / 2));
                    break;
                }
            default: // a TCP connection and nothing else
                {
                    using var socket = await RawFrameSocket.OpenTcpAsync(ws);
                    break;
                }
        }
    }

    private static int OpenFileDescriptors() => Directory.GetFiles("/proc/self/fd").Length;

    [Fact]
    public async Task User_allowed_only_agent_1_is_refused_agent_and_all_and_never_receives_agent_2_events()
    {
        await using var server = await HardServer.StartAsync(o =>
        {
            o.AuthenticateClient = (token, _) => ValueTask.FromResult<WSUser?>(new WSUser(token));
            // The application's rule: user u1 may see agent 1 only; everyone else sees everything.
            o.AuthorizeSubscription = (client, room, _) => ValueTask.FromResult(client.User?.UserId != "u1" || room == "agent:1");
        });
        // History the user must not be able to replay through a parent room either.
        var missed = await server.Server.PublishAsync(["agent:2"], "agent:updated", new { id = "2" });

        await using var admin = await server.ConnectAsync("batch=0&token=admin");
        await admin.SubscribeAsync("all");
        await using var user = await server.ConnectAsync("batch=0&token=u1");
        await user.SubscribeAsync("agent:1");
        foreach (var room in new[] { "agent", "all", "agent:2", "agent:1:x", "agent:2:1" })
            Assert.Equal("forbidden", (await user.RequestAsync("subscribe", $"\"room\":\"{room}\"")).GetProperty("code").GetString());
        // Nor with a recovering subscribe to the parent, which would replay agent:2's history.
        Assert.True(missed.OffsetIn("agent") > 0);
        var agentEpoch = (await admin.RequestAsync("subscribe", "\"room\":\"agent\"")).GetProperty("epoch").GetString();
        var recovering = await user.RequestAsync("subscribe", $"\"room\":\"agent\",\"since\":{{\"epoch\":\"{agentEpoch}\",\"offset\":0}}");
        Assert.Equal("forbidden", recovering.GetProperty("code").GetString());

        server.Server.Broadcast("agent:2", "agent:updated", new { id = "2" });
        server.Server.Broadcast("agent:2:1", "agent:updated", new { id = "2.1" });
        server.Server.Broadcast("agent:1", "agent:updated", new { id = "1" });

        var seen = await user.ReceiveEventAsync();
        Assert.Equal("agent:1", seen.GetProperty("room").GetString());
        await user.AssertNothingAsync(TimeSpan.FromMilliseconds(300));
        // The admin, subscribed to all, got all three (the agent:2 ones first).
        for (var i = 0; i < 3; i++)
            Assert.Equal("event", (await admin.ReceiveEventAsync()).GetProperty("type").GetString());
        server.AssertNoErrorsLogged();
    }
}
