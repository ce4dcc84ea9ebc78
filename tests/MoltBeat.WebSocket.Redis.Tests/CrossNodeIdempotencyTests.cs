using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Redis.Tests.Infrastructure;
using MoltBeat.WebSocket.Server;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Redis.Tests;

/// <summary>Idempotent publish across nodes (protocol 1.1): one key, one publish, whichever nodes repeat it and however close together.</summary>
public sealed class CrossNodeIdempotencyTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    private static string UniqueRoom() => $"idem:{Guid.NewGuid():N}";

    private static Task<Engine.PublishedEvent> PublishAsync(Node node, string room, string key, int n) =>
        node.Server.PublishAsync(new EventToPublish(room, "order:paid", new { n }) { IdempotencyKey = key }).WaitAsync(Limit);

    private static async Task<RawClient> SubscribedAsync(Node node, string room)
    {
        var client = await node.ConnectAsync();
        await client.SubscribeAsync(room);
        return client;
    }

    /// <summary>Publishes a marker and asserts that each client's next event is it, at <paramref name="offset"/>: nothing else was delivered.</summary>
    private static async Task AssertNextIsMarkerAsync(Node node, string room, long offset, params RawClient[] clients)
    {
        await node.Server.PublishAsync([room], "marker", null).WaitAsync(Limit);
        foreach (var client in clients)
        {
            var next = await client.ReceiveEventAsync();
            Assert.Equal("marker", next.GetProperty("event").GetString());
            Assert.Equal(offset, next.GetProperty("offsets").GetProperty(room).GetInt64());
        }
    }

    [Fact]
    public async Task A_repeat_on_another_node_returns_the_first_nodes_offsets_marked_duplicate_and_delivers_nothing()
    {
        await using var cluster = await Cluster.StartAsync(2);
        var room = UniqueRoom();
        await using var first = await SubscribedAsync(cluster[0], room);
        await using var second = await SubscribedAsync(cluster[1], room);

        var original = await PublishAsync(cluster[0], room, "order-17", 1);
        var repeat = await PublishAsync(cluster[1], room, "order-17", 1);

        Assert.False(original.Duplicate);
        Assert.True(repeat.Duplicate);
        Assert.Equal(original.DeliveryRooms, repeat.DeliveryRooms);
        Assert.Equal(original.Offsets, repeat.Offsets);
        Assert.Equal(original.Frame, repeat.Frame);
        foreach (var client in new[] { first, second })
            Assert.Equal(1, (await client.ReceiveEventAsync()).GetProperty("data").GetProperty("n").GetInt32());
        await AssertNextIsMarkerAsync(cluster[1], room, 2, first, second);
        // Kept in Redis, under the deployment's prefix, for the window.
        var ttl = await RedisProbe.IdempotencyKeyTimeToLiveAsync(cluster, "order-17");
        Assert.NotNull(ttl);
        Assert.InRange(ttl.Value, ProtocolLimits.IdempotencyWindow - TimeSpan.FromSeconds(30), ProtocolLimits.IdempotencyWindow);
    }

    [Fact]
    public async Task The_same_key_published_at_once_on_two_nodes_is_published_exactly_once_and_delivered_once_on_both()
    {
        await using var cluster = await Cluster.StartAsync(2);
        var room = UniqueRoom();
        await using var first = await SubscribedAsync(cluster[0], room);
        await using var second = await SubscribedAsync(cluster[1], room);
        const int Rounds = 5;

        // Several rounds, each with a fresh key, so that publishes of one key really meet in Redis at the same moment.
        for (var round = 1; round <= Rounds; round++)
        {
            var key = $"k-{Guid.NewGuid():N}";
            using var start = new ManualResetEventSlim();
            var publishes = Enumerable.Range(0, 16).Select(i => Task.Run(async () =>
            {
                start.Wait(Limit);
                return await PublishAsync(cluster[i % 2], room, key, round * 100 + i);
            })).ToList();
            start.Set();
            var results = await Task.WhenAll(publishes).WaitAsync(Limit);

            var published = Assert.Single(results, r => !r.Duplicate);
            Assert.All(results, r => Assert.Equal(published.Offsets, r.Offsets));
            Assert.Equal(round, published.OffsetIn(room));
            var n = System.Text.Json.JsonDocument.Parse(published.Frame).RootElement.GetProperty("data").GetProperty("n").GetInt32();
            foreach (var client in new[] { first, second })
                Assert.Equal(n, (await client.ReceiveEventAsync()).GetProperty("data").GetProperty("n").GetInt32());
        }
        await AssertNextIsMarkerAsync(cluster[0], room, Rounds + 1, first, second);
    }

    [Fact]
    public async Task After_the_configured_window_a_repeat_on_another_node_publishes_again()
    {
        await using var cluster = await Cluster.StartAsync(2, engine: o => o.IdempotencyWindow = TimeSpan.FromSeconds(1));
        await using var client = await cluster[1].ConnectAsync();
        var room = UniqueRoom();
        await client.SubscribeAsync(room);

        var original = await PublishAsync(cluster[0], room, "k", 1);
        await Task.Delay(TimeSpan.FromMilliseconds(1100));
        var again = await PublishAsync(cluster[1], room, "k", 2);

        Assert.False(again.Duplicate);
        Assert.Equal(original.OffsetIn(room) + 1, again.OffsetIn(room));
        Assert.Equal(1, (await client.ReceiveEventAsync()).GetProperty("data").GetProperty("n").GetInt32());
        Assert.Equal(2, (await client.ReceiveEventAsync()).GetProperty("data").GetProperty("n").GetInt32());
    }

    [Fact]
    public void An_idempotency_window_under_a_millisecond_is_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new RedisEngineOptions { IdempotencyWindow = TimeSpan.Zero }.Validate());
}
