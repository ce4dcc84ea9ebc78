using MoltBeat.WebSocket.Client;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Tests.Infrastructure;
using static MoltBeat.WebSocket.Tests.Client.ClientTestKit;

namespace MoltBeat.WebSocket.Tests.Client;

/// <summary>The .NET client's <see cref="SubscribeOptions"/> (protocol 1.1) against a real server: open on the last events, or gap-free from a position.</summary>
public sealed class ClientSubscribeOptionsTests
{
    private static void Publish(TestServer server, string room, int from, int to)
    {
        for (var n = from; n <= to; n++)
            server.Server.Broadcast(room, "tick", new { n });
    }

    [Fact(Timeout = 30_000)]
    public async Task SubscribeAsync_with_Last_receives_the_latest_events_then_live_ones_and_tells_how_many_were_replayed()
    {
        await using var server = await TestServer.StartAsync();
        var room = UniqueRoom("metrics");
        Publish(server, room, 1, 5);
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);

        var subscription = await client.SubscribeAsync(room, new SubscribeOptions { Last = 2 }).WaitAsync(Limit);
        Publish(server, room, 6, 6);

        Assert.Equal(2, subscription.Replay);
        Assert.Equal(5, subscription.Offset);
        await Eventually(() => recorder.Numbers().Count == 3, "the replayed and the live event", diagnostics: () => recorder.Describe(client));
        Assert.Equal([4, 5, 6], recorder.Numbers());
        Assert.Equal(6, client.GetPosition(room)!.Value.Offset);
    }

    [Fact(Timeout = 30_000)]
    public async Task SubscribeAsync_since_a_position_read_before_loading_state_receives_every_later_event_and_none_before()
    {
        await using var server = await TestServer.StartAsync();
        var room = UniqueRoom("agents");
        Publish(server, room, 1, 2);
        var info = await server.Server.GetRoomAsync(room); // 1. read the position
        Publish(server, room, 3, 5);                        // 2. events published while the application loads its state
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);

        var subscription = await client.SubscribeAsync(room, new SubscribeOptions { Since = new StreamPosition(info.Epoch, info.Offset) }).WaitAsync(Limit);
        Publish(server, room, 6, 6);

        Assert.True(subscription.Recovered);
        Assert.Equal(3, subscription.Replay);
        await Eventually(() => recorder.Numbers().Count == 4, "the missed and the live events", diagnostics: () => recorder.Describe(client));
        await Task.Delay(100);
        Assert.Equal([3, 4, 5, 6], recorder.Numbers());
        Assert.Empty(recorder.RecoveryFailed);
    }

    [Fact(Timeout = 30_000)]
    public async Task SubscribeAsync_with_Last_out_of_range_throws_before_sending_and_the_client_stays_usable()
    {
        await using var server = await TestServer.StartAsync();
        var room = UniqueRoom();
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));
        await client.ConnectAsync().WaitAsync(Limit);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.SubscribeAsync(room, new SubscribeOptions { Last = ProtocolLimits.MaxLast + 1 }));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.SubscribeAsync(room, new SubscribeOptions { Last = -1 }));

        Assert.Empty(client.Subscriptions);
        Assert.Null((await client.SubscribeAsync(room, new SubscribeOptions { Last = ProtocolLimits.MaxLast }).WaitAsync(Limit)).Recovered);
    }

    [Fact(Timeout = 30_000)]
    public async Task After_a_reconnect_whose_recovery_fails_a_room_subscribed_with_Last_opens_on_its_latest_events_again()
    {
        await using var server = await TestServer.StartAsync(o => o.History.MaxEventsPerRoom = 3);
        await using var proxy = TcpProxy.Start(server.HttpUri.Port);
        var room = UniqueRoom("metrics");
        await using var client = new MoltBeatWSClient(FastOptions(proxy.WsUri()));
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);
        await client.SubscribeAsync(room, new SubscribeOptions { Last = 2 }).WaitAsync(Limit);
        Publish(server, room, 1, 1);
        await Eventually(() => recorder.Numbers().Count == 1, "the first event");

        proxy.Refusing = true;
        proxy.KillAll();
        await Eventually(() => client.State == MoltBeatWSClientState.Reconnecting, "Reconnecting");
        Publish(server, room, 2, 10); // more than the 3 kept: the position the client holds cannot be recovered
        proxy.Refusing = false;

        await Eventually(() => recorder.RecoveryFailed.Count == 1 && recorder.Numbers().Count == 3, "the failed recovery and the last events", diagnostics: () => recorder.Describe(client));
        Assert.Equal([1, 9, 10], recorder.Numbers());
        Assert.Equal(2, recorder.Subscribed.Last().Replay);
        Assert.Equal(10, client.GetPosition(room)!.Value.Offset);
    }
}
