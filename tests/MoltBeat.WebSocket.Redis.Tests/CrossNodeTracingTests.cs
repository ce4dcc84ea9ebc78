using MoltBeat.WebSocket.Redis.Tests.Infrastructure;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Redis.Tests;

/// <summary>A publish's trace continues on every node that delivers it: its traceparent travels through Redis.</summary>
public sealed class CrossNodeTracingTests
{
    [Fact]
    public async Task The_delivery_span_on_another_node_is_a_child_of_the_publish_span()
    {
        using var spans = new SpanRecorder();
        await using var cluster = await Cluster.StartAsync(2);
        await using var remote = await cluster[1].ConnectAsync();
        await remote.SubscribeAsync("analytics:traced");

        System.Diagnostics.ActivityTraceId trace;
        using (var caller = spans.Caller.StartActivity("POST /api/publish"))
        {
            Assert.NotNull(caller);
            trace = caller.TraceId;
            await cluster[0].Server.PublishAsync(["analytics:traced"], "tick", new { n = 1 }).WaitAsync(TimeSpan.FromSeconds(10));
        }
        await remote.ReceiveEventAsync();

        var publish = Assert.Single(await spans.WaitForAsync(trace, "moltbeat.publish", 1));
        Assert.Equal("redis", publish.GetTagItem("moltbeat.engine"));
        // Both nodes deliver it (the publishing node has no subscriber of the room, the other one has one).
        var delivers = await spans.WaitForAsync(trace, "moltbeat.deliver", 2);
        Assert.Equal(2, delivers.Count);
        Assert.All(delivers, d => Assert.Equal(publish.SpanId, d.ParentSpanId));
        Assert.Contains(delivers, d => (int)d.GetTagItem("moltbeat.recipients")! == 1);
    }
}
