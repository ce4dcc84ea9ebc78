using System.Collections.Concurrent;
using MoltBeat.WebSocket.Client;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Tests.Infrastructure;
using static MoltBeat.WebSocket.Tests.Client.ClientTestKit;

namespace MoltBeat.WebSocket.Tests.Client;

/// <summary>The client against a scripted server, for protocol situations the real server does not produce on demand.</summary>
public sealed class ClientProtocolTests
{
    [Fact(Timeout = 30_000)]
    public async Task Batched_frames_are_split_and_a_duplicate_event_is_delivered_once()
    {
        var query = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await ScriptedServer.StartAsync(async session =>
        {
            query.TrySetResult(session.Query);
            await session.SendAsync(ScriptedSession.Connected());
            var subscribe = (await session.ReceiveAsync())!.Value;
            var id = subscribe.GetProperty("id").GetInt64();
            await session.SendAsync(
                $"{{\"type\":\"subscribed\",\"room\":\"r\",\"id\":{id},\"epoch\":\"e1\",\"offset\":0}}",
                ScriptedSession.Event("r", 1, 101),
                ScriptedSession.Event("r", 2, 102),
                ScriptedSession.Event("r", 2, 102), // the same event again, as an overlapping replay could send it
                "{\"type\":\"from_a_future_version\",\"x\":1}",
                ScriptedSession.Event("r", 3, 103));
            while (await session.ReceiveAsync() is not null)
            {
            }
        });
        var options = FastOptions(server.WsUri);
        options.Token = "secret token";
        await using var client = new MoltBeatWSClient(options);
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);

        var subscription = await client.SubscribeAsync("r").WaitAsync(Limit);
        await Eventually(() => recorder.Numbers().Count >= 3, "three events");
        await Task.Delay(100);

        Assert.Equal(new MoltBeatSubscription("r", "e1", 0, null), subscription);
        Assert.Equal([1, 2, 3], recorder.Numbers());
        Assert.Equal(new StreamPosition("e1", 3), client.GetPosition("r"));
        Assert.Empty(recorder.Errors);
        var sent = await query.Task.WaitAsync(Limit);
        Assert.Contains("batch=1", sent);
        Assert.Contains("token=secret%20token", sent);
    }

    [Fact(Timeout = 30_000)]
    public async Task Heartbeat_on_a_fake_clock_aborts_the_connection_when_a_ping_goes_unanswered()
    {
        var pings = 0;
        var answer = true;
        await using var server = await ScriptedServer.StartAsync(async session =>
        {
            await session.SendAsync(ScriptedSession.Connected());
            while (await session.ReceiveAsync() is { } message)
            {
                if (message.GetProperty("type").GetString() != "ping")
                    continue;
                Interlocked.Increment(ref pings);
                // The event after the pong lets the test see that the client has read the frame.
                if (Volatile.Read(ref answer))
                    await session.SendAsync($"{{\"type\":\"pong\",\"id\":{message.GetProperty("id").GetInt64()}}}", ScriptedSession.Event("r", pings, pings));
            }
        });
        var clock = TestClock.Create();
        var options = FastOptions(server.WsUri);
        options.TimeProvider = clock;
        options.HeartbeatInterval = TimeSpan.FromSeconds(30);
        options.AutoReconnect = false;
        await using var client = new MoltBeatWSClient(options);
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);

        clock.Advance(TimeSpan.FromSeconds(30)); // ping 1, answered
        await Eventually(() => recorder.Numbers().Count == 1, "the pong to ping 1");
        Volatile.Write(ref answer, false);
        clock.Advance(TimeSpan.FromSeconds(30)); // the pong came: alive; ping 2, unanswered
        await Eventually(() => Volatile.Read(ref pings) == 2, "ping 2");
        await Task.Delay(200);
        Assert.True(client.IsConnected);

        clock.Advance(TimeSpan.FromSeconds(30)); // nothing since ping 2: dead

        await Eventually(() => !recorder.Disconnected.IsEmpty, "the dead connection to be dropped");
        var lost = recorder.Disconnected.Single();
        Assert.Contains("heartbeat", lost.Reason, StringComparison.OrdinalIgnoreCase);
        Assert.False(lost.WillReconnect);
        Assert.Equal(MoltBeatWSClientState.Disconnected, client.State);
        Assert.Equal(2, Volatile.Read(ref pings));
    }

    [Fact(Timeout = 30_000)]
    public async Task Slow_consumer_close_4009_reconnects_at_once_with_since_but_a_repeated_one_backs_off()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var accepted = new ConcurrentQueue<TimeSpan>();
        var closed = new ConcurrentQueue<TimeSpan>();
        var subscribes = new ConcurrentQueue<string>();
        await using var server = await ScriptedServer.StartAsync(async session =>
        {
            accepted.Enqueue(clock.Elapsed);
            var number = accepted.Count;
            await session.SendAsync(ScriptedSession.Connected($"c_{number}"));
            var subscribe = (await session.ReceiveAsync())!.Value;
            subscribes.Enqueue(subscribe.TryGetProperty("since", out var since) ? since.GetRawText() : "none");
            var id = subscribe.GetProperty("id").GetInt64();
            var recovered = number == 1 ? "" : ",\"recovered\":true";
            await session.SendAsync(
                $"{{\"type\":\"subscribed\",\"room\":\"r\",\"id\":{id},\"epoch\":\"e1\",\"offset\":{number - 1}{recovered}}}",
                ScriptedSession.Event("r", number, number));
            if (number <= 2)
            {
                // The first two connections are closed as slow consumers; the second one right away.
                await session.CloseAsync(4009, "slow_consumer");
                closed.Enqueue(clock.Elapsed);
                return;
            }
            while (await session.ReceiveAsync() is not null)
            {
            }
        });
        var contexts = new ConcurrentQueue<MoltBeatRetryContext>();
        var options = FastOptions(server.WsUri);
        options.MaxReconnectDelay = TimeSpan.FromSeconds(5); // a connection is stable after 5 s
        // The policy says 30 s after the first drop: a client that waited for it instead of reconnecting at once
        // would not reach its third connection before Eventually gives up. After the second drop it says 2 s.
        options.RetryPolicy = new FixedPolicy(contexts, c => c.PreviousAttempts == 0 ? TimeSpan.FromSeconds(30) : TimeSpan.FromSeconds(2));
        await using var client = new MoltBeatWSClient(options);
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);
        client.Subscribe("r");

        await Eventually(() => accepted.Count == 3 && recorder.Numbers().Count == 3 && client.IsConnected, "the third connection");

        var times = accepted.ToArray();
        var closes = closed.ToArray();
        // The server notes the close after the client may have started its 2 s wait: allow for that.
        Assert.True(times[2] - closes[1] >= TimeSpan.FromSeconds(1.5), $"a second 4009 in a row backs off, took {times[2] - closes[1]}");
        Assert.Equal([0, 1], contexts.Select(c => c.PreviousAttempts));
        Assert.Equal(["none", "{\"epoch\":\"e1\",\"offset\":1}", "{\"epoch\":\"e1\",\"offset\":2}"], subscribes);
        Assert.Equal([1, 2, 3], recorder.Numbers());
        Assert.All(recorder.Disconnected, d => Assert.Equal(4009, d.CloseCode));
    }

    private sealed class FixedPolicy(ConcurrentQueue<MoltBeatRetryContext> contexts, Func<MoltBeatRetryContext, TimeSpan> delay) : IMoltBeatRetryPolicy
    {
        public TimeSpan? NextRetryDelay(MoltBeatRetryContext context)
        {
            contexts.Enqueue(context);
            return delay(context);
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task A_malformed_server_message_is_reported_and_the_connection_survives()
    {
        await using var server = await ScriptedServer.StartAsync(async session =>
        {
            await session.SendAsync(ScriptedSession.Connected());
            await session.SendAsync("{not json", ScriptedSession.Event("r", 1, 1));
            while (await session.ReceiveAsync() is not null)
            {
            }
        });
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri));
        var recorder = new ClientRecorder(client);
        var seen = new ConcurrentQueue<int>();
        client.On<TickPayload>("tick", (tick, _) => seen.Enqueue(tick!.N));

        await client.ConnectAsync().WaitAsync(Limit);

        await Eventually(() => !recorder.Errors.IsEmpty && !seen.IsEmpty, "the error and the next message");
        Assert.IsType<InvalidDataException>(recorder.Errors.Single());
        Assert.Equal([1], seen);
        Assert.True(client.IsConnected);
    }

    public sealed record TickPayload(int N);
}
