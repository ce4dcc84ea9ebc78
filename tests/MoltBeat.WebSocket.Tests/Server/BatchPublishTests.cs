using MoltBeat.WebSocket.Server;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Tests.Server;

/// <summary>PublishAsync with a list of events (protocol 1.1 batches): in order, each one's offsets, all or nothing.</summary>
public sealed class BatchPublishTests
{
    private static string UniqueRoom(string prefix = "batch") => $"{prefix}:{Guid.NewGuid():N}";

    [Fact]
    public async Task Batch_publish_delivers_every_event_in_order_and_returns_each_ones_offsets()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        var parent = UniqueRoom();
        var agents = parent + ":agents";
        var tasks = parent + ":tasks";
        await client.SubscribeAsync(parent);

        var published = await server.Server.PublishAsync(
        [
            new EventToPublish(agents, "agent:created", new { n = 0 }),
            new EventToPublish(tasks, "task:done", new { n = 1 }),
            new EventToPublish([agents, tasks], "both", new { n = 2 }),
            new EventToPublish(agents, "agent:deleted", null),
        ]);

        Assert.Equal(4, published.Count);
        Assert.Equal([1L, 2, 3, 4], published.Select(p => p.OffsetIn(parent)));
        Assert.Equal([1L, 0, 2, 3], published.Select(p => p.OffsetIn(agents)));
        Assert.Equal([0L, 1, 2, 0], published.Select(p => p.OffsetIn(tasks)));
        Assert.True(published.Zip(published.Skip(1)).All(pair => pair.First.Sequence < pair.Second.Sequence), "'all' offsets increase in batch order");
        string[] names = ["agent:created", "task:done", "both", "agent:deleted"];
        for (var i = 0; i < published.Count; i++)
        {
            var evt = await client.ReceiveEventAsync();
            Assert.Equal(names[i], evt.GetProperty("event").GetString());
            Assert.Equal(published[i].OffsetIn(parent), evt.GetProperty("offsets").GetProperty(parent).GetInt64());
            if (i == 2)
                Assert.Equal([agents, tasks], evt.GetProperty("rooms").EnumerateArray().Select(r => r.GetString()));
        }
        await client.AssertNothingAsync(TimeSpan.FromMilliseconds(200));
    }

    [Theory]
    [InlineData("room")]
    [InlineData("no rooms")]
    [InlineData("event")]
    [InlineData("payload")]
    [InlineData("empty key")]
    [InlineData("long key")]
    [InlineData("null")]
    public async Task Batch_with_one_invalid_event_throws_naming_its_index_and_publishes_nothing(string fault)
    {
        await using var server = await TestServer.StartAsync(o => o.MaxPayloadSize = 1024);
        await using var client = await server.ConnectAsync();
        var room = UniqueRoom();
        await client.SubscribeAsync(room);
        EventToPublish bad = fault switch
        {
            "room" => new(room + ":bad room!", "e", null),
            "no rooms" => new(Array.Empty<string>(), "e", null),
            "event" => new(room, new string('e', MoltBeatWSServer.MaxEventNameLength + 1), null),
            "payload" => new(room, "e", new string('x', 2000)),
            "empty key" => new(room, "e", null) { IdempotencyKey = "" },
            "long key" => new(room, "e", null) { IdempotencyKey = new string('k', WebSocket.Protocol.ProtocolLimits.MaxKeyLength + 1) },
            _ => null!,
        };

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => server.Server.PublishAsync([new(room, "ok", 1), new(room, "ok", 2), bad, new(room, "ok", 4)]));

        Assert.StartsWith("events[2]: ", ex.Message, StringComparison.Ordinal);
        Assert.Equal("events", ex.ParamName);
        // Nothing of the batch went out: the next event is the room's first.
        await server.Server.PublishAsync([room], "marker", null);
        var first = await client.ReceiveEventAsync();
        Assert.Equal("marker", first.GetProperty("event").GetString());
        Assert.Equal(1, first.GetProperty("offsets").GetProperty(room).GetInt64());
    }

    [Fact]
    public async Task Empty_batch_and_batch_over_the_limit_are_refused()
    {
        await using var server = await TestServer.StartAsync();
        var room = UniqueRoom();
        await Assert.ThrowsAsync<ArgumentException>(() => server.Server.PublishAsync(Array.Empty<EventToPublish>()));
        var tooMany = Enumerable.Range(0, MoltBeatWSServer.MaxBatchEvents + 1).Select(i => new EventToPublish(room, "e", i)).ToArray();
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => server.Server.PublishAsync(tooMany));
        Assert.Contains(MoltBeatWSServer.MaxBatchEvents.ToString(System.Globalization.CultureInfo.InvariantCulture), ex.Message, StringComparison.Ordinal);

        var exactly = await server.Server.PublishAsync(tooMany[..MoltBeatWSServer.MaxBatchEvents]);
        Assert.Equal(MoltBeatWSServer.MaxBatchEvents, exactly[^1].OffsetIn(room));
    }
}
