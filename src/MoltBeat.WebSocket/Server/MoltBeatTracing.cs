using System.Diagnostics;

namespace MoltBeat.WebSocket.Server;

/// <summary>
/// The library's traces (<see cref="ActivitySource"/> <c>MoltBeat.WebSocket</c>): a <c>moltbeat.publish</c> span per
/// published event (rooms, event, engine time; a child of the caller's span, e.g. the HTTP request that published
/// it, so a W3C <c>traceparent</c> sent with <c>POST /api/publish</c> continues into it), and a
/// <c>moltbeat.deliver</c> span on every node that delivers it (recipients on that node), a child of the publish
/// span even on another node: the engine carries its <c>traceparent</c> (through Redis with the Redis engine).
/// Nothing is recorded, and nothing costs, while no listener (OpenTelemetry's <c>AddSource</c>) listens.
/// </summary>
public static class MoltBeatTracing
{
    /// <summary>The name of the source, for <c>tracing.AddSource(MoltBeatTracing.SourceName)</c>.</summary>
    public const string SourceName = "MoltBeat.WebSocket";

    internal static readonly ActivitySource Source = new(SourceName, typeof(MoltBeatTracing).Assembly.GetName().Version?.ToString());

    /// <summary>Starts the span of one publish, or null when nobody listens.</summary>
    internal static Activity? StartPublish(IReadOnlyList<string> rooms, string eventName, string engine)
    {
        if (!Source.HasListeners())
            return null;
        var activity = Source.StartActivity("moltbeat.publish", ActivityKind.Producer);
        if (activity is null)
            return null;
        activity.SetTag("messaging.system", "moltbeat");
        activity.SetTag("messaging.operation.type", "publish");
        activity.SetTag("messaging.destination.name", rooms[0]);
        activity.SetTag("moltbeat.rooms", rooms.ToArray());
        activity.SetTag("moltbeat.event", eventName);
        activity.SetTag("moltbeat.engine", engine);
        return activity;
    }

    /// <summary>Starts the span of one delivery on this node, continuing the publish span of <paramref name="traceParent"/>; null when nobody listens.</summary>
    internal static Activity? StartDeliver(string? traceParent, string? room)
    {
        if (!Source.HasListeners())
            return null;
        // In one process the publish span is the current one already; from another node, its traceparent says which.
        var parent = traceParent is not null && ActivityContext.TryParse(traceParent, null, out var remote) ? remote : default;
        var activity = parent == default
            ? Source.StartActivity("moltbeat.deliver", ActivityKind.Consumer)
            : Source.StartActivity("moltbeat.deliver", ActivityKind.Consumer, parent);
        if (activity is null)
            return null;
        activity.SetTag("messaging.system", "moltbeat");
        activity.SetTag("messaging.operation.type", "deliver");
        activity.SetTag("messaging.destination.name", room ?? "*");
        return activity;
    }
}
