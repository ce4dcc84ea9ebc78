using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Redis.Tests.Infrastructure;
using Xunit.Abstractions;

namespace MoltBeat.WebSocket.Redis.Tests;

public sealed class EngineTests(ITestOutputHelper output)
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

    /// <summary>A measurement, not an assertion: publishes per second of one node through Redis.</summary>
    [Fact]
    public async Task Measure_publish_cost_through_Redis()
    {
        const int Count = 3000;
        await using var cluster = await Cluster.StartAsync(1);
        var node = cluster[0];
        await using var client = await node.ConnectAsync();
        await client.SubscribeAsync("analytics");
        for (var n = 0; n < 200; n++)
            await node.PublishAsync("analytics:agents", n); // warm up

        var sequential = Stopwatch.StartNew();
        for (var n = 0; n < Count; n++)
            await node.Server.PublishAsync(["analytics:agents"], "tick", new { n });
        sequential.Stop();

        var pipelined = Stopwatch.StartNew();
        var inFlight = new List<Task>(Count);
        for (var n = 0; n < Count; n++)
            inFlight.Add(node.Server.PublishAsync(["analytics:agents"], "tick", new { n }));
        await Task.WhenAll(inFlight).WaitAsync(TimeSpan.FromSeconds(30));
        pipelined.Stop();

        var line = $"Redis engine, 1 node, room analytics:agents (3 delivery rooms), {Count} publishes: " +
            $"awaited one by one {Count / sequential.Elapsed.TotalSeconds:F0}/s ({sequential.Elapsed.TotalMicroseconds / Count:F0} us each), " +
            $"all in flight {Count / pipelined.Elapsed.TotalSeconds:F0}/s";
        output.WriteLine(line);
        Console.WriteLine(line);
    }
}
