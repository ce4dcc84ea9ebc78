using System.Collections.Concurrent;
using System.Diagnostics;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.WebSocket.Tests.Infrastructure;

/// <summary>
/// Listens, in process, to the library's spans and to a caller's own (what OpenTelemetry's AddSource does), and keeps
/// the finished ones. Tests run in parallel: look spans up by the trace id of the test's own caller span.
/// </summary>
public sealed class SpanRecorder : IDisposable
{
    private readonly ActivityListener _listener;
    private readonly ConcurrentQueue<Activity> _stopped = new();

    public SpanRecorder()
    {
        Caller = new ActivitySource("MoltBeat.Tests.Caller." + Guid.NewGuid().ToString("N"));
        _listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == MoltBeatTracing.SourceName || s == Caller,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    /// <summary>The test's own source, for the span a publish runs under (as an HTTP request's would be).</summary>
    public ActivitySource Caller { get; }

    /// <summary>The finished spans of one trace named <paramref name="name"/>.</summary>
    public List<Activity> Spans(ActivityTraceId trace, string name) => [.. _stopped.Where(a => a.TraceId == trace && a.OperationName == name)];

    /// <summary>Waits until <paramref name="count"/> spans of the trace named <paramref name="name"/> have finished.</summary>
    public async Task<List<Activity>> WaitForAsync(ActivityTraceId trace, string name, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Spans(trace, name).Count < count && DateTime.UtcNow < deadline)
            await Task.Delay(10);
        return Spans(trace, name);
    }

    public void Dispose()
    {
        _listener.Dispose();
        Caller.Dispose();
    }
}
