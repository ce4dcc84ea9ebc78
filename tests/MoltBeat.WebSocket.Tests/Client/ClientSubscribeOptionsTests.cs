using MoltBeat.WebSocket.Client;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Tests.Infrastructure;
using static MoltBeat.WebSocket.Tests.Client.ClientTestKit;

namespace MoltBeat.WebSocket.Tests.Client;

/// <summary>
/// <see cref="SubscribeOptions"/> (protocol 1.1 <c>last</c>, and <c>since</c> from a position read elsewhere) over real
/// sockets against a real server, and what the client sends when it resubscribes (against a scripted one).
/// </summary>
public sealed class ClientSubscribeOptionsTests
{
    private static void Publish(TestServer server, string room, int from, int to)
    {
        for (var n = from; n <= to; n++)
            server.Server.Broadcast(room, "tick", new { n });
    }

    [Fact(Timeout = 30_000)]
    public async Task Last_delivers_the_rooms_most_recent_events_then_live_ones_and_tells_the_replay_count()
    {
        await using var server = await TestServer.StartAsync();
        var room = UniqueRoom("last");
        Publish(server, room, 1, 5);
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);

        var subscription = await client.SubscribeAsync(room, new SubscribeOptions { Last = 3 }).WaitAsync(Limit);
        await Eventually(() => recorder.Numbers().Count == 3, "the last three events");
        Publish(server, room, 6, 6);
        await Eventually(() => recorder.Numbers().Count == 4, "the live event");
        await Task.Delay(100);

        Assert.Equal(3, subscription.Replay);
        Assert.Null(subscription.Recovered);
        Assert.Equal(5, subscription.Offset);
        Assert.Equal([3, 4, 5, 6], recorder.Numbers());
        Assert.Equal(new StreamPosition(subscription.Epoch, 6), client.GetPosition(room));
        Assert.Equal(3, Assert.Single(recorder.Subscribed).Replay);
        Assert.Empty(recorder.Errors);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_plain_subscribe_has_no_replay_count_and_last_zero_replays_nothing()
    {
        await using var server = await TestServer.StartAsync();
        var room = UniqueRoom("last");
        Publish(server, room, 1, 2);
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);

        var plain = await client.SubscribeAsync(room).WaitAsync(Limit);
        var other = UniqueRoom("last");
        Publish(server, other, 1, 2);
        var none = await client.SubscribeAsync(other, new SubscribeOptions { Last = 0 }).WaitAsync(Limit);
        await Task.Delay(200);

        Assert.Null(plain.Replay);
        Assert.True(none.Replay is null or 0);
        Assert.Empty(recorder.Numbers());
    }

    [Fact(Timeout = 30_000)]
    public async Task Since_from_a_position_read_before_loading_state_delivers_every_event_after_it_once()
    {
        await using var server = await TestServer.StartAsync();
        var room = UniqueRoom("snapshot");
        Publish(server, room, 1, 3);
        // The snapshot pattern: read the position (GET /api/rooms/{room} over HTTP), load the state it stands for...
        var position = await server.Server.GetRoomAsync(room);
        Publish(server, room, 4, 6); // ...while events keep coming...
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);

        // ...then subscribe from that position: nothing between the read and the subscribe is lost.
        var subscription = await client.SubscribeAsync(room, new SubscribeOptions { Since = new StreamPosition(position.Epoch, position.Offset), Last = 50 }).WaitAsync(Limit);
        await Eventually(() => recorder.Numbers().Count == 3, "the events after the position");
        Publish(server, room, 7, 7);
        await Eventually(() => recorder.Numbers().Count == 4, "the live event");
        await Task.Delay(100);

        Assert.Equal(3, position.Offset);
        Assert.True(subscription.Recovered);
        Assert.Equal(3, subscription.Replay); // Last is ignored when since recovers
        Assert.Equal([4, 5, 6, 7], recorder.Numbers());
        Assert.Equal(new StreamPosition(position.Epoch, 7), client.GetPosition(room));
        Assert.Empty(recorder.RecoveryFailed);
    }

    [Fact(Timeout = 30_000)]
    public async Task Since_that_cannot_recover_raises_RecoveryFailed_and_Last_still_applies()
    {
        await using var server = await TestServer.StartAsync();
        var room = UniqueRoom("snapshot");
        Publish(server, room, 1, 4);
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);

        var stale = new StreamPosition("an-epoch-long-gone", 2);
        var subscription = await client.SubscribeAsync(room, new SubscribeOptions { Since = stale, Last = 2 }).WaitAsync(Limit);
        await Eventually(() => recorder.Numbers().Count == 2 && !recorder.RecoveryFailed.IsEmpty, "the last two events and RecoveryFailed");
        await Task.Delay(200);

        Assert.False(subscription.Recovered);
        Assert.Equal(2, subscription.Replay);
        Assert.Equal([3, 4], recorder.Numbers());
        var failed = Assert.Single(recorder.RecoveryFailed);
        Assert.Equal(room, failed.Room);
        Assert.Equal(stale, failed.Since);
        Assert.Equal(new StreamPosition(subscription.Epoch, 4), failed.Current);
        Assert.Equal(new StreamPosition(subscription.Epoch, 4), client.GetPosition(room));
    }

    [Theory(Timeout = 30_000)]
    [InlineData(-1)]
    [InlineData(ProtocolLimits.MaxLast + 1)]
    public async Task Last_out_of_range_throws_before_anything_is_sent(int last)
    {
        await using var server = await TestServer.StartAsync();
        var room = UniqueRoom("last");
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);

        var awaited = Assert.Throws<ArgumentOutOfRangeException>(() => { _ = client.SubscribeAsync(room, new SubscribeOptions { Last = last }); });
        var queued = Assert.Throws<ArgumentOutOfRangeException>(() => client.Subscribe(room, new SubscribeOptions { Last = last }));
        Assert.Throws<ArgumentException>(() => client.Subscribe(room, new SubscribeOptions { Since = new StreamPosition("e", -1) }));
        var limit = await client.SubscribeAsync(room, new SubscribeOptions { Last = ProtocolLimits.MaxLast }).WaitAsync(Limit);
        await Task.Delay(100);

        Assert.Equal("Last", awaited.ParamName);
        Assert.Contains(ProtocolLimits.MaxLast.ToString(System.Globalization.CultureInfo.InvariantCulture), queued.Message, StringComparison.Ordinal);
        Assert.Equal(0, limit.Replay);
        Assert.Equal(new[] { room }, client.Subscriptions);
        Assert.Empty(recorder.Errors);
        Assert.True(client.IsConnected);
    }

    [Fact(Timeout = 30_000)]
    public async Task Subscribe_with_Last_before_connecting_opens_with_the_last_events_and_a_reconnect_recovers_without_repeating_them()
    {
        await using var server = await TestServer.StartAsync();
        await using var proxy = TcpProxy.Start(server.HttpUri.Port);
        var room = UniqueRoom("last");
        Publish(server, room, 1, 4);
        await using var client = new MoltBeatWSClient(FastOptions(proxy.WsUri()));
        var recorder = new ClientRecorder(client);

        client.Subscribe(room, new SubscribeOptions { Last = 2 }); // queued: sent once connected
        await client.ConnectAsync().WaitAsync(Limit);
        await Eventually(() => recorder.Numbers().Count == 2, "the last two events");

        proxy.Refusing = true;
        proxy.KillAll();
        await Eventually(() => client.State == MoltBeatWSClientState.Reconnecting, "Reconnecting");
        Publish(server, room, 5, 6); // while the client cannot connect: only the history has them
        proxy.Refusing = false;
        await Eventually(() => recorder.Numbers().Count == 4 && recorder.Subscribed.Count == 2, "the recovered events", diagnostics: () => recorder.Describe(client));
        Publish(server, room, 7, 7);
        await Eventually(() => recorder.Numbers().Count == 5, "the live event");
        await Task.Delay(200);

        Assert.Equal([3, 4, 5, 6, 7], recorder.Numbers());
        var subscribed = recorder.Subscribed.ToArray();
        Assert.Equal(2, subscribed[0].Replay);
        Assert.Null(subscribed[0].Recovered);
        Assert.True(subscribed[1].Recovered);
        Assert.Equal(2, subscribed[1].Replay); // only the missed events, not the last two again
        Assert.Empty(recorder.RecoveryFailed);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_resubscribe_sends_last_only_while_the_room_was_never_confirmed_and_since_afterwards()
    {
        var requests = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var sessions = 0;
        await using var server = await ScriptedServer.StartAsync(async session =>
        {
            var n = Interlocked.Increment(ref sessions);
            await session.SendAsync(ScriptedSession.Connected($"c{n}"));
            var subscribe = (await session.ReceiveAsync())!.Value;
            requests.Enqueue(subscribe.GetRawText());
            var id = subscribe.GetProperty("id").GetInt64();
            switch (n)
            {
                case 1: // lost before the reply
                    await session.CloseAsync(1011, "gone");
                    return;
                case 2:
                    await session.SendAsync(
                        $"{{\"type\":\"subscribed\",\"room\":\"r\",\"id\":{id},\"epoch\":\"e1\",\"offset\":5,\"replay\":2}}",
                        ScriptedSession.Event("r", 4, 104),
                        ScriptedSession.Event("r", 5, 105));
                    await Task.Delay(200);
                    await session.CloseAsync(1011, "gone");
                    return;
                default:
                    await session.SendAsync(
                        $"{{\"type\":\"subscribed\",\"room\":\"r\",\"id\":{id},\"epoch\":\"e1\",\"offset\":6,\"recovered\":true,\"replay\":1}}",
                        ScriptedSession.Event("r", 6, 106));
                    while (await session.ReceiveAsync() is not null)
                    {
                    }
                    return;
            }
        });
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri));
        var recorder = new ClientRecorder(client);
        client.Subscribe("r", new SubscribeOptions { Last = 2 });
        await client.ConnectAsync().WaitAsync(Limit);

        await Eventually(() => recorder.Numbers().Count == 3 && requests.Count == 3, "three connections and the events", diagnostics: () => recorder.Describe(client));
        await Task.Delay(100);

        var sent = requests.Select(r => System.Text.Json.JsonDocument.Parse(r).RootElement).ToArray();
        Assert.All(sent[..2], s =>
        {
            Assert.Equal(2, s.GetProperty("last").GetInt32());
            Assert.False(s.TryGetProperty("since", out _));
        });
        Assert.False(sent[2].TryGetProperty("last", out _));
        Assert.Equal("e1", sent[2].GetProperty("since").GetProperty("epoch").GetString());
        Assert.Equal(5, sent[2].GetProperty("since").GetProperty("offset").GetInt64());
        Assert.Equal([4, 5, 6], recorder.Numbers());
        Assert.Equal(new[] { 2, 1 }, recorder.Subscribed.Select(s => s.Replay ?? -1));
    }
}
