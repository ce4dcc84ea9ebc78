using System.Diagnostics;
using System.Net;
using System.Text;
using MoltBeat.Server.Tests.Infrastructure;

namespace MoltBeat.Server.Tests;

/// <summary>The server application's traces, exported by OTLP to a real HTTP collector on loopback.</summary>
public sealed class TracingExportTests
{
    [Fact]
    public async Task A_publish_over_HTTP_continues_the_callers_traceparent_and_its_spans_reach_the_OTLP_collector()
    {
        // The collector: real Kestrel in this process, receiving what the OpenTelemetry exporter posts (OTLP over HTTP, protobuf).
        await using var collector = await WebhookTarget.StartAsync();
        var port = ServerProcess.FreePort();
        var env = new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.Url.GetLeftPart(UriPartial.Authority),
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
            ["OTEL_SERVICE_NAME"] = "moltbeat-tracing-test",
        };
        await using var server = ServerProcess.Launch(["--urls", $"http://127.0.0.1:{port}"], env, port);
        await server.WaitUntilHealthyAsync();

        var traceId = ActivityTraceId.CreateRandom();
        var callerSpan = ActivitySpanId.CreateRandom();
        using (var http = new HttpClient { BaseAddress = server.HttpUrl, Timeout = TimeSpan.FromSeconds(10) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/publish", UriKind.Relative))
            {
                Content = new StringContent("""{"room":"analytics:metrics","event":"traced","data":{"n":1}}""", Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("traceparent", $"00-{traceId.ToHexString()}-{callerSpan.ToHexString()}-01");
            using var response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // The trace id and the caller's span id as the protobuf carries them (raw bytes), beside the publish span's name.
        var traceBytes = new byte[16];
        traceId.CopyTo(traceBytes);
        var callerBytes = new byte[8];
        callerSpan.CopyTo(callerBytes);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        WebhookTarget.Received? export = null;
        while (export is null && DateTime.UtcNow < deadline)
        {
            export = collector.Requests.FirstOrDefault(r => r.Raw.AsSpan().IndexOf("moltbeat.publish"u8) >= 0 && r.Raw.AsSpan().IndexOf(traceBytes) >= 0);
            if (export is null)
                await Task.Delay(100);
        }
        Assert.True(export is not null, $"no export with the publish span of trace {traceId} among {collector.Requests.Count} requests\n{server.Output}");
        Assert.Equal("application/x-protobuf", export!.ContentType);
        // The request's own span continues the caller's: its parent span id is the one sent. It ends after the publish
        // span, so it may come in a later export batch.
        bool ContinuesCaller() => collector.Requests.Any(r => r.Raw.AsSpan().IndexOf(callerBytes) >= 0 && r.Raw.AsSpan().IndexOf(traceBytes) >= 0);
        while (!ContinuesCaller() && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.True(ContinuesCaller(), "no span with the caller's span as its parent");
        Assert.Contains(collector.Requests, r => r.Raw.AsSpan().IndexOf("moltbeat-tracing-test"u8) >= 0);
    }
}
