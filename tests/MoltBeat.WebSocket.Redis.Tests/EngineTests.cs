using Microsoft.Extensions.DependencyInjection;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Redis.Tests.Infrastructure;


namespace MoltBeat.WebSocket.Redis.Tests;

public sealed class EngineTests
{
    [Fact]
    public async Task Frame_assembled_by_the_publish_script_is_byte_identical_to_EventFrame_Build()
    {
        await using var cluster = await Cluster.StartAsync(1);
        string[] rooms = ["Az09_-.:x:y", "agent:123"];
        var published = await cluster[0].Server.PublishAsync(rooms, "agent:updated", new { text = "é \"q\" <b>", n = 1 }).WaitAsync(TimeSpan.FromSeconds(10));
        var json = System.Text.Json.JsonDocument.Parse(published.Frame).RootElement;
        var data = System.Text.Encoding.UTF8.GetBytes(json.GetProperty("data").GetRawText());
        var offsets = published.DeliveryRooms!.Zip(published.Offsets!, (r, o) => new KeyValuePair<string, long>(r, o)).ToList();
        var expected = EventFrame.Build(rooms, "agent:updated", data, json.GetProperty("ts").GetInt64(), offsets);
        Assert.Equal(System.Text.Encoding.UTF8.GetString(expected), System.Text.Encoding.UTF8.GetString(published.Frame));
        Assert.Equal(expected, published.Frame);
    }

    [Fact]
    public async Task AddRedisEngine_replaces_the_in_memory_engine_and_keeps_the_server_history_bounds()
    {
        var services = new ServiceCollection();
        services.AddMoltBeatWebSocket(o => o.History.MaxEventsPerRoom = 42).AddRedisEngine("127.0.0.1:1");
        await using var provider = services.BuildServiceProvider();
        var engine = Assert.IsType<RedisEngine>(provider.GetRequiredService<IMoltBeatEngine>());
        Assert.Equal(42, engine.History.MaxEventsPerRoom);
        Assert.Single(services, d => d.ServiceType == typeof(IMoltBeatEngine));
    }

    [Fact]
    public void Options_with_a_brace_in_the_prefix_are_refused()
    {
        Assert.Throws<ArgumentException>(() => new RedisEngine(new RedisEngineOptions { KeyPrefix = "a{b}" }));
    }

    /// <summary>
    /// Publishes awaited one at a time go to Redis one per script call, and many in flight together in batched calls
    /// (<c>M</c> messages): either way a subscriber gets each once, in publish order, with gap-free offsets. (This was a
    /// timing once; publish throughput is measured by the benchmark's <c>redis-throughput</c> scenario.)
    /// </summary>
    [Fact]
    public async Task Publishes_awaited_one_by_one_and_all_in_flight_reach_a_subscriber_each_once_in_offset_order()
    {
        const int Count = 1000;
        const string Room = "analytics:agents";
        await using var cluster = await Cluster.StartAsync(1);
        var node = cluster[0];
        await using var client = await node.ConnectAsync();
        await client.SubscribeAsync("analytics");
        for (var n = 0; n < Count; n++)
            await node.PublishAsync(Room, n);
        var inFlight = new List<Task<PublishedEvent>>(Count);
        for (var n = Count; n < 2 * Count; n++)
            inFlight.Add(node.Server.PublishAsync([Room], "tick", new { n }));
        var published = await Task.WhenAll(inFlight).WaitAsync(TimeSpan.FromSeconds(30));
        // In flight together, each still got the next offset of the room, in the order they were called.
        for (var i = 0; i < Count; i++)
            Assert.Equal(Count + i + 1, published[i].Offsets![Array.IndexOf(published[i].DeliveryRooms!, Room)]);

        for (var n = 0; n < 2 * Count; n++)
        {
            var evt = await client.ReceiveEventAsync();
            Assert.Equal((n, (long)n + 1), (evt.GetProperty("data").GetProperty("n").GetInt32(), evt.GetProperty("offsets").GetProperty("analytics").GetInt64()));
        }
        await client.AssertNothingAsync(TimeSpan.FromMilliseconds(200));
    }
}
