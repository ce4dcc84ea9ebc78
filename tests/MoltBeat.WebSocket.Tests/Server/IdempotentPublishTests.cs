using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Server;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Tests.Server;

/// <summary>
/// Publishing with an idempotency key through the library (protocol 1.1), seen by a real subscriber: a repeat is not
/// published again and returns the first publish's offsets marked duplicate; bad keys publish nothing.
/// </summary>
public sealed class IdempotentPublishTests
{
    private static string UniqueRoom() => $"idem:{Guid.NewGuid():N}";

    /// <summary>Publishes a marker and asserts it is the next event the client gets, at <paramref name="offset"/>: nothing else was delivered.</summary>
    private static async Task AssertNextIsMarkerAsync(TestServer server, RawClient client, string room, long offset)
    {
        await server.Server.PublishAsync([room], "marker", null);
        var next = await client.ReceiveEventAsync();
        Assert.Equal("marker", next.GetProperty("event").GetString());
        Assert.Equal(offset, next.GetProperty("offsets").GetProperty(room).GetInt64());
    }

    [Fact]
    public async Task A_publish_repeating_an_idempotency_key_is_delivered_once_and_returns_the_first_offsets_marked_duplicate()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        var room = UniqueRoom();
        await client.SubscribeAsync(room);

        var first = await server.Server.PublishAsync(new EventToPublish(room, "order:paid", new { n = 1 }) { IdempotencyKey = "order-17" });
        var repeat = await server.Server.PublishAsync(new EventToPublish(room, "order:paid", new { n = 1 }) { IdempotencyKey = "order-17" });

        Assert.False(first.Duplicate);
        Assert.True(repeat.Duplicate);
        Assert.Equal(first.Offsets, repeat.Offsets);
        Assert.Equal(1, repeat.OffsetIn(room));
        var evt = await client.ReceiveEventAsync();
        Assert.Equal("order:paid", evt.GetProperty("event").GetString());
        Assert.False(evt.TryGetProperty("idempotencyKey", out _), "the key is the publisher's, not sent to subscribers");
        await AssertNextIsMarkerAsync(server, client, room, 2);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(ProtocolLimits.MaxKeyLength + 1)]
    public async Task An_empty_or_too_long_idempotency_key_is_refused_and_nothing_is_published(int length)
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        var room = UniqueRoom();
        await client.SubscribeAsync(room);

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => server.Server.PublishAsync(new EventToPublish(room, "e", null) { IdempotencyKey = new string('k', length) }));

        Assert.Contains("idempotency key", ex.Message, StringComparison.Ordinal);
        Assert.Equal("idempotencyKey", ex.ParamName);
        await AssertNextIsMarkerAsync(server, client, room, 1);
    }

    [Fact]
    public async Task An_idempotency_key_of_the_longest_length_is_accepted()
    {
        await using var server = await TestServer.StartAsync();
        var room = UniqueRoom();
        var key = new string('k', ProtocolLimits.MaxKeyLength);

        var first = await server.Server.PublishAsync(new EventToPublish(room, "e", null) { IdempotencyKey = key });
        var repeat = await server.Server.PublishAsync(new EventToPublish(room, "e", null) { IdempotencyKey = key });

        Assert.False(first.Duplicate);
        Assert.True(repeat.Duplicate);
    }

    [Fact]
    public async Task A_batch_event_repeating_the_key_of_an_earlier_event_of_the_batch_is_its_duplicate()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        var room = UniqueRoom();
        await client.SubscribeAsync(room);

        var published = await server.Server.PublishAsync(
        [
            new EventToPublish(room, "a", null) { IdempotencyKey = "k1" },
            new EventToPublish(room, "b", null) { IdempotencyKey = "k2" },
            new EventToPublish(room, "c", null) { IdempotencyKey = "k1" },
            new EventToPublish(room, "d", null),
        ]);

        Assert.Equal([false, false, true, false], published.Select(p => p.Duplicate));
        Assert.Equal([1L, 2, 1, 3], published.Select(p => p.OffsetIn(room)));
        Assert.Equal(published[0].Frame, published[2].Frame);
        foreach (var name in new[] { "a", "b", "d" })
            Assert.Equal(name, (await client.ReceiveEventAsync()).GetProperty("event").GetString());

        // The whole batch retried: the keyed events are duplicates, the unkeyed one is published again.
        var retried = await server.Server.PublishAsync(
        [
            new EventToPublish(room, "a", null) { IdempotencyKey = "k1" },
            new EventToPublish(room, "b", null) { IdempotencyKey = "k2" },
            new EventToPublish(room, "d", null),
        ]);
        Assert.Equal([true, true, false], retried.Select(p => p.Duplicate));
        Assert.Equal([1L, 2, 4], retried.Select(p => p.OffsetIn(room)));
        Assert.Equal("d", (await client.ReceiveEventAsync()).GetProperty("event").GetString());
        await AssertNextIsMarkerAsync(server, client, room, 5);
    }
}
