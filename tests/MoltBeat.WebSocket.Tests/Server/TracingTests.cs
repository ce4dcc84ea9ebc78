using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Tests.Server;

/// <summary>The library's spans (MoltBeatTracing), recorded by an in-process listener as OpenTelemetry would.</summary>
public sealed class TracingTests
{
    [Fact]
    public async Task A_publish_is_a_span_under_the_callers_and_its_delivery_a_child_of_it()
    {
        using var spans = new SpanRecorder();
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        var room = $"trace:{Guid.NewGuid():N}";
        await client.SubscribeAsync(room);

        System.Diagnostics.ActivityTraceId trace;
        System.Diagnostics.ActivitySpanId callerSpan;
        using (var caller = spans.Caller.StartActivity("POST /api/publish"))
        {
            Assert.NotNull(caller);
            trace = caller.TraceId;
            callerSpan = caller.SpanId;
            await server.Server.PublishAsync([room], "tick", new { n = 1 });
        }
        await client.ReceiveEventAsync();

        var publish = Assert.Single(await spans.WaitForAsync(trace, "moltbeat.publish", 1));
        Assert.Equal(callerSpan, publish.ParentSpanId);
        Assert.Equal("tick", publish.GetTagItem("moltbeat.event"));
        Assert.Equal(room, publish.GetTagItem("messaging.destination.name"));
        Assert.Equal("memory", publish.GetTagItem("moltbeat.engine"));
        Assert.Equal(1L, publish.GetTagItem("moltbeat.offset"));
        var deliver = Assert.Single(await spans.WaitForAsync(trace, "moltbeat.deliver", 1));
        Assert.Equal(publish.SpanId, deliver.ParentSpanId);
        Assert.Equal(1, deliver.GetTagItem("moltbeat.recipients"));
    }

    [Fact]
    public async Task Without_a_listener_a_publish_records_no_span()
    {
        await using var server = await TestServer.StartAsync();
        Assert.Null(System.Diagnostics.Activity.Current);
        var published = await server.Server.PublishAsync([$"trace:{Guid.NewGuid():N}"], "tick", 1);
        Assert.Null(System.Diagnostics.Activity.Current);
        Assert.True(published.Sequence > 0);
    }
}
