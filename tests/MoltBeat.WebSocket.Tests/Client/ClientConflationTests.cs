using System.Collections.Concurrent;
using System.Text.Json;
using MoltBeat.WebSocket.Client;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Server;
using MoltBeat.WebSocket.Tests.Infrastructure;
using static MoltBeat.WebSocket.Tests.Client.ClientTestKit;

namespace MoltBeat.WebSocket.Tests.Client;

/// <summary>
/// The .NET client's <see cref="SubscribeOptions.MaxRate"/> and <see cref="SubscribeOptions.Occupancy"/> (protocol 1.1),
/// against a real server unless the server's part has to be scripted: conflated events with their key and count, no loss
/// seen in the offsets conflation skips, subscriber counts, and both options kept across a reconnect.
/// </summary>
public sealed class ClientConflationTests
{
    private const string Metrics = "metrics:updated";

    private static async Task PublishKeyedAsync(TestServer server, string room, int from, int to, string key = "cpu")
    {
        for (var n = from; n <= to; n++)
            await server.Server.PublishAsync(new EventToPublish(room, Metrics, new { n }) { Key = key });
    }

    private static List<ReceivedEvent> Of(ClientRecorder recorder, string room) => [.. recorder.Events.Where(e => e.Room == room)];

    private static int N(ReceivedEvent e) => e.Data.GetProperty("n").GetInt32();

    [Fact(Timeout = 30_000)]
    public async Task A_MaxRate_subscription_receives_fewer_events_than_published_each_counting_what_it_replaced_and_the_newest_last()
    {
        await using var server = await TestServer.StartAsync();
        var room = UniqueRoom("metrics");
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);
        await client.SubscribeAsync(room, new SubscribeOptions { MaxRate = 5 }).WaitAsync(Limit);

        const int count = 50;
        await PublishKeyedAsync(server, room, 1, count);

        await Eventually(() => recorder.Events.Any(e => N(e) == count), "the newest value", diagnostics: () => recorder.Describe(client));
        await Task.Delay(300); // nothing may follow the newest one
        var got = Of(recorder, room);
        Assert.True(got.Count < count, $"{got.Count} of {count} events reached a subscription of at most 5 a second");
        Assert.Contains(got, e => e.Conflated > 0);
        Assert.Equal(count, N(got[^1]));
        Assert.All(got, e => Assert.Equal("cpu", e.Key));
        // One key: each event's room offset skips exactly the events it replaced, and they only increase.
        var previous = 0L;
        foreach (var e in got)
        {
            Assert.Equal(e.Offsets[room] - previous - 1, e.Conflated);
            previous = e.Offsets[room];
        }
        Assert.Equal(count, got.Sum(e => 1 + e.Conflated));
        // Offsets skipped by conflation are no loss: the position is the newest, and nothing reports one.
        Assert.Equal(count, client.GetPosition(room)!.Value.Offset);
        Assert.Empty(recorder.RecoveryFailed);
        Assert.Empty(recorder.Errors);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_MaxRate_subscription_receives_every_unkeyed_event_in_order_with_no_key_and_nothing_conflated()
    {
        await using var server = await TestServer.StartAsync();
        var room = UniqueRoom("feed");
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);
        await client.SubscribeAsync(room, new SubscribeOptions { MaxRate = 10 }).WaitAsync(Limit);

        for (var n = 1; n <= 20; n++)
            server.Server.Broadcast(room, "tick", new { n });

        await Eventually(() => recorder.Numbers().Count == 20, "every unkeyed event", diagnostics: () => recorder.Describe(client));
        Assert.Equal(Enumerable.Range(1, 20), recorder.Numbers());
        Assert.All(recorder.Events, e => Assert.Null(e.Key));
        Assert.All(recorder.Events, e => Assert.Equal(0, e.Conflated));
    }

    [Fact(Timeout = 30_000)]
    public async Task Occupancy_is_raised_with_the_rooms_subscriber_count_then_again_when_another_client_subscribes()
    {
        await using var server = await TestServer.StartAsync();
        var room = UniqueRoom("dashboard");
        await using var watcher = new MoltBeatWSClient(FastOptions(server.WsUri()));
        var counts = new ConcurrentQueue<MoltBeatOccupancyEventArgs>();
        watcher.Occupancy += (_, e) => counts.Enqueue(e);
        await watcher.ConnectAsync().WaitAsync(Limit);
        await using var other = new MoltBeatWSClient(FastOptions(server.WsUri()));
        var otherCounts = new ConcurrentQueue<MoltBeatOccupancyEventArgs>();
        other.Occupancy += (_, e) => otherCounts.Enqueue(e);
        await other.ConnectAsync().WaitAsync(Limit);

        Assert.Null(watcher.GetOccupancy(room));
        await watcher.SubscribeAsync(room, new SubscribeOptions { Occupancy = true }).WaitAsync(Limit);
        await Eventually(() => !counts.IsEmpty, "the first count");
        Assert.Equal(1, watcher.GetOccupancy(room));

        await other.SubscribeAsync(room).WaitAsync(Limit);
        await Eventually(() => counts.Any(c => c.Subscribers == 2), "the count after another client subscribed", TimeSpan.FromSeconds(3));

        // 1, then 2 (a count may be told twice when a reading crosses the subscription's own).
        Assert.Equal([1L, 2L], counts.Select(c => c.Subscribers).Distinct());
        Assert.All(counts, c => Assert.Equal(room, c.Room));
        Assert.Equal(2, watcher.GetOccupancy(room));
        // A subscription that did not ask is told nothing.
        Assert.Empty(otherCounts);
        Assert.Null(other.GetOccupancy(room));
    }

    [Fact(Timeout = 30_000)]
    public async Task GetOccupancy_is_forgotten_on_unsubscribe_and_no_later_count_is_raised()
    {
        await using var server = await TestServer.StartAsync();
        var room = UniqueRoom("dashboard");
        await using var watcher = new MoltBeatWSClient(FastOptions(server.WsUri()));
        var counts = new ConcurrentQueue<MoltBeatOccupancyEventArgs>();
        watcher.Occupancy += (_, e) => counts.Enqueue(e);
        await watcher.ConnectAsync().WaitAsync(Limit);
        await using var other = new MoltBeatWSClient(FastOptions(server.WsUri()));
        await other.ConnectAsync().WaitAsync(Limit);
        await watcher.SubscribeAsync(room, new SubscribeOptions { Occupancy = true }).WaitAsync(Limit);
        await Eventually(() => watcher.GetOccupancy(room) == 1, "the first count");

        await watcher.UnsubscribeAsync(room).WaitAsync(Limit);
        Assert.Null(watcher.GetOccupancy(room));
        await other.SubscribeAsync(room).WaitAsync(Limit);
        await Task.Delay(TimeSpan.FromSeconds(1.5)); // past the server's one-second reading

        Assert.All(counts, c => Assert.Equal(1, c.Subscribers));
        Assert.Null(watcher.GetOccupancy(room));
    }

    [Fact(Timeout = 30_000)]
    public async Task Subscribing_again_without_Occupancy_stops_the_counts()
    {
        await using var server = await TestServer.StartAsync();
        var room = UniqueRoom("dashboard");
        await using var watcher = new MoltBeatWSClient(FastOptions(server.WsUri()));
        var counts = new ConcurrentQueue<MoltBeatOccupancyEventArgs>();
        watcher.Occupancy += (_, e) => counts.Enqueue(e);
        await watcher.ConnectAsync().WaitAsync(Limit);
        await using var other = new MoltBeatWSClient(FastOptions(server.WsUri()));
        await other.ConnectAsync().WaitAsync(Limit);
        await watcher.SubscribeAsync(room, new SubscribeOptions { Occupancy = true }).WaitAsync(Limit);
        await Eventually(() => watcher.GetOccupancy(room) == 1, "the first count");

        await watcher.SubscribeAsync(room).WaitAsync(Limit);
        Assert.Null(watcher.GetOccupancy(room));
        await other.SubscribeAsync(room).WaitAsync(Limit);
        await Task.Delay(TimeSpan.FromSeconds(1.5));

        Assert.All(counts, c => Assert.Equal(1, c.Subscribers));
        Assert.Null(watcher.GetOccupancy(room));
        Assert.Equal([room], watcher.Subscriptions);
    }

    [Fact(Timeout = 30_000)]
    public async Task After_a_reconnect_the_room_is_resubscribed_with_its_MaxRate_and_Occupancy()
    {
        await using var server = await TestServer.StartAsync();
        await using var proxy = TcpProxy.Start(server.HttpUri.Port);
        var room = UniqueRoom("metrics");
        await using var client = new MoltBeatWSClient(FastOptions(proxy.WsUri()));
        var recorder = new ClientRecorder(client);
        var counts = new ConcurrentQueue<MoltBeatOccupancyEventArgs>();
        client.Occupancy += (_, e) => counts.Enqueue(e);
        await client.ConnectAsync().WaitAsync(Limit);
        await client.SubscribeAsync(room, new SubscribeOptions { MaxRate = 5, Occupancy = true }).WaitAsync(Limit);
        await Eventually(() => !counts.IsEmpty, "the first count");

        var countsBefore = counts.Count;
        proxy.KillAll();
        await Eventually(() => recorder.Connected.Count == 2 && recorder.Subscribed.Count == 2, "the reconnect and the resubscription", diagnostics: () => recorder.Describe(client));

        // Occupancy was asked again: only a subscription of the new connection that asked is told a count.
        await Eventually(() => counts.Count > countsBefore, "a count after the resubscription", TimeSpan.FromSeconds(3));
        Assert.NotNull(client.GetOccupancy(room));
        // MaxRate was asked again: a burst of one key is conflated.
        const int count = 40;
        await PublishKeyedAsync(server, room, 1, count);
        await Eventually(() => recorder.Events.Any(e => N(e) == count), "the newest value", diagnostics: () => recorder.Describe(client));
        var got = Of(recorder, room);
        Assert.True(got.Count < count, $"{got.Count} of {count} events reached the resubscribed room of at most 5 a second");
        Assert.Contains(got, e => e.Conflated > 0);
        Assert.Empty(recorder.RecoveryFailed);
    }

    [Fact(Timeout = 30_000)]
    public async Task Subscribe_without_waiting_before_connecting_asks_MaxRate_and_Occupancy_on_the_first_connection_and_after_a_reconnect()
    {
        await using var server = await TestServer.StartAsync();
        await using var proxy = TcpProxy.Start(server.HttpUri.Port);
        var room = UniqueRoom("metrics");
        await using var client = new MoltBeatWSClient(FastOptions(proxy.WsUri()));
        var recorder = new ClientRecorder(client);
        var counts = new ConcurrentQueue<MoltBeatOccupancyEventArgs>();
        client.Occupancy += (_, e) => counts.Enqueue(e);

        // Queued before any connection, as the seed's subscribe(room, options) may be.
        client.Subscribe(room, new SubscribeOptions { MaxRate = 5, Occupancy = true });
        await client.ConnectAsync().WaitAsync(Limit);
        await Eventually(() => recorder.Subscribed.Count == 1 && !counts.IsEmpty, "the subscription and its first count", diagnostics: () => recorder.Describe(client));
        Assert.Equal(1, client.GetOccupancy(room));
        const int count = 40;
        await PublishKeyedAsync(server, room, 1, count);
        await Eventually(() => recorder.Events.Any(e => N(e) == count), "the newest value", diagnostics: () => recorder.Describe(client));
        var first = Of(recorder, room);
        Assert.True(first.Count < count, $"{first.Count} of {count} events reached a subscription of at most 5 a second");
        Assert.Equal(count, first.Sum(e => 1 + e.Conflated));

        var countsBefore = counts.Count;
        proxy.KillAll();
        await Eventually(() => recorder.Connected.Count == 2 && recorder.Subscribed.Count == 2, "the reconnect and the resubscription", diagnostics: () => recorder.Describe(client));
        await Eventually(() => counts.Count > countsBefore, "a count after the resubscription", TimeSpan.FromSeconds(3));
        await PublishKeyedAsync(server, room, count + 1, 2 * count);
        await Eventually(() => recorder.Events.Any(e => N(e) == 2 * count), "the newest value after the reconnect", diagnostics: () => recorder.Describe(client));
        var second = Of(recorder, room).Skip(first.Count).ToList();
        Assert.True(second.Count < count, $"{second.Count} of {count} events reached the resubscribed room of at most 5 a second");
        Assert.Empty(recorder.Errors);
    }

    [Fact(Timeout = 30_000)]
    public async Task Subscribe_without_waiting_refuses_Since_and_a_bad_MaxRate_before_anything_is_sent()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));
        await client.ConnectAsync().WaitAsync(Limit);

        var since = Assert.Throws<ArgumentException>(() => client.Subscribe("r", new SubscribeOptions { Since = new StreamPosition("e1", 3) }));
        Assert.Contains("SubscribeAsync", since.Message, StringComparison.Ordinal);
        var rate = Assert.Throws<ArgumentOutOfRangeException>(() => client.Subscribe("r", new SubscribeOptions { MaxRate = 0 }));
        Assert.Equal(nameof(SubscribeOptions.MaxRate), rate.ParamName);
        Assert.Empty(client.Subscriptions);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(ProtocolLimits.MaxRate + 1.0)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public async Task A_MaxRate_that_is_not_above_0_and_at_most_the_limit_throws_before_anything_is_sent(double maxRate)
    {
        var received = new ConcurrentQueue<JsonElement>();
        await using var server = await ScriptedServer.StartAsync(async session =>
        {
            await session.SendAsync(ScriptedSession.Connected());
            while (await session.ReceiveAsync() is { } request)
            {
                received.Enqueue(request);
                var id = request.GetProperty("id").GetInt64();
                await session.SendAsync($"{{\"type\":\"subscribed\",\"room\":\"r\",\"id\":{id},\"epoch\":\"e1\",\"offset\":0}}");
            }
        });
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri));
        await client.ConnectAsync().WaitAsync(Limit);

        var refused = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.SubscribeAsync("r", new SubscribeOptions { MaxRate = maxRate }));

        Assert.Equal(nameof(SubscribeOptions.MaxRate), refused.ParamName);
        Assert.Empty(client.Subscriptions);
        // The next request is the first the server sees, and the limit itself is allowed.
        await client.SubscribeAsync("r", new SubscribeOptions { MaxRate = ProtocolLimits.MaxRate }).WaitAsync(Limit);
        var only = Assert.Single(received);
        Assert.Equal(ProtocolLimits.MaxRate, only.GetProperty("maxRate").GetDouble());
        Assert.False(only.TryGetProperty("occupancy", out _));
        Assert.True(client.IsConnected);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_new_epochs_catchup_asks_the_rooms_MaxRate_and_Occupancy_again_and_a_conflated_replay_releases_the_held_events_without_waiting_for_the_timeout()
    {
        var requests = new ConcurrentQueue<JsonElement>();
        var sessions = 0;
        await using var server = await ScriptedServer.StartAsync(async session =>
        {
            var n = Interlocked.Increment(ref sessions);
            await session.SendAsync(ScriptedSession.Connected($"c{n}"));
            var subscribe = (await session.ReceiveAsync())!.Value;
            requests.Enqueue(subscribe);
            var id = subscribe.GetProperty("id").GetInt64();
            if (n == 1)
            {
                await session.SendAsync(
                    $"{{\"type\":\"subscribed\",\"room\":\"r\",\"id\":{id},\"epoch\":\"e1\",\"offset\":0}}",
                    Keyed(1, 1, 0),
                    Keyed(2, 2, 0));
                await Task.Delay(200);
                await session.CloseAsync(1011, "restarting");
                return;
            }
            // The server restarted: a new epoch the client never saw, five events in, and a live one already.
            await session.SendAsync(
                $"{{\"type\":\"subscribed\",\"room\":\"r\",\"id\":{id},\"epoch\":\"e2\",\"offset\":5,\"recovered\":false}}",
                Keyed(6, 6, 0));
            var catchup = (await session.ReceiveAsync())!.Value;
            requests.Enqueue(catchup);
            var catchupId = catchup.GetProperty("id").GetInt64();
            // Its replay of 1..6, conflated: two events, standing for offsets 1-3 and 4-5 (6 came live).
            await session.SendAsync(
                $"{{\"type\":\"subscribed\",\"room\":\"r\",\"id\":{catchupId},\"epoch\":\"e2\",\"offset\":6,\"recovered\":true,\"replay\":2}}",
                Keyed(3, 3, 2),
                Keyed(5, 5, 1));
            while (await session.ReceiveAsync() is not null)
            {
            }
        });
        var options = FastOptions(server.WsUri);
        options.CatchupTimeout = TimeSpan.FromSeconds(30);
        await using var client = new MoltBeatWSClient(options);
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);

        await client.SubscribeAsync("r", new SubscribeOptions { MaxRate = 10, Occupancy = true, Last = 1 }).WaitAsync(Limit);
        await Eventually(() => recorder.Numbers(Metrics).Count == 5, "the events of both epochs, well before the catch-up timeout", TimeSpan.FromSeconds(5), () => recorder.Describe(client));

        Assert.Equal([1, 2, 3, 5, 6], recorder.Numbers(Metrics));
        Assert.Equal([0, 0, 2, 1, 0], recorder.Events.Select(e => e.Conflated));
        Assert.Single(recorder.RecoveryFailed); // the restart lost e1's history: that is a loss, the conflation is not
        var resubscribe = requests.ElementAt(1);
        Assert.Equal(10, resubscribe.GetProperty("maxRate").GetDouble());
        Assert.True(resubscribe.GetProperty("occupancy").GetBoolean());
        Assert.Equal(1, resubscribe.GetProperty("last").GetInt32());
        var catchupRequest = requests.ElementAt(2);
        Assert.Equal("e2", catchupRequest.GetProperty("since").GetProperty("epoch").GetString());
        Assert.Equal(0, catchupRequest.GetProperty("since").GetProperty("offset").GetInt64());
        Assert.Equal(10, catchupRequest.GetProperty("maxRate").GetDouble());
        Assert.True(catchupRequest.GetProperty("occupancy").GetBoolean());
        Assert.False(catchupRequest.TryGetProperty("last", out _));
        Assert.Equal(new StreamPosition("e2", 6), client.GetPosition("r"));
    }

    /// <summary>A <c>metrics:updated</c> event of room <c>r</c> keyed <c>cpu</c>, at offset <paramref name="n"/>.</summary>
    private static string Keyed(int n, long id, int conflated) =>
        $"{{\"type\":\"event\",\"room\":\"r\",\"event\":\"{Metrics}\",\"data\":{{\"n\":{n}}},\"ts\":1764170000000,\"offsets\":{{\"r\":{n},\"all\":{id}}},\"key\":\"cpu\""
        + (conflated > 0 ? $",\"conflated\":{conflated}}}" : "}");
}
