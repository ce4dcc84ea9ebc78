using System.Diagnostics.Metrics;

namespace MoltBeat.WebSocket.Server;

/// <summary>
/// The server's instruments on <see cref="System.Diagnostics.Metrics"/>, meter <c>MoltBeat.WebSocket</c>.
/// Export them with OpenTelemetry or watch them with <c>dotnet-counters monitor --counters MoltBeat.WebSocket</c>.
/// The instruments themselves are the server's to record on: read them through the meter, by name.
/// </summary>
public sealed class MoltBeatMetrics : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "MoltBeat.WebSocket";

    private readonly Meter _meter;

    /// <summary>Creates the instruments on a meter from <paramref name="meterFactory"/>, or on a meter of its own.</summary>
    public MoltBeatMetrics(IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        Connections = _meter.CreateUpDownCounter<long>("moltbeat.connections", "{connection}", "Open WebSocket connections.");
        Subscriptions = _meter.CreateUpDownCounter<long>("moltbeat.subscriptions", "{subscription}", "Room subscriptions held by connections.");
        EventsPublished = _meter.CreateCounter<long>("moltbeat.events.published", "{event}", "Events published (rooms and broadcasts to all).");
        MessagesSent = _meter.CreateCounter<long>("moltbeat.messages.sent", "{message}", "Events written to connections (deliveries), however many share a frame.");
        FramesSent = _meter.CreateCounter<long>("moltbeat.frames.sent", "{frame}", "WebSocket frames sent.");
        BytesSent = _meter.CreateCounter<long>("moltbeat.bytes.sent", "By", "Bytes written to sockets.");
        Errors = _meter.CreateCounter<long>("moltbeat.errors", "{error}", "Error replies sent, by code.");
        Closes = _meter.CreateCounter<long>("moltbeat.closes", "{close}", "Connections closed by the server, by close code.");
        Recoveries = _meter.CreateCounter<long>("moltbeat.recoveries", "{recovery}", "Subscribes with 'since', by outcome.");
        SlowConsumers = _meter.CreateCounter<long>("moltbeat.slow_consumers", "{connection}", "Connections closed with 4009.");
        Conflated = _meter.CreateCounter<long>("moltbeat.events.conflated", "{event}",
            "Events not sent to a connection because a newer one of the same room, event name and key replaced it (maxRate, or conflation under lag).");
        DeliveryLatency = _meter.CreateHistogram<double>("moltbeat.delivery.latency", "ms",
            "From an event's delivery to this node (its publish, in one process) to the fan-out worker's writes of it, per worker, by room class.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] });
        WriteQueueDepth = _meter.CreateHistogram<int>("moltbeat.write.queue_depth", "{message}",
            "Messages that had waited for a connection, written together in one write (1: it was keeping up).",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000] });
    }

    /// <summary>Open connections.</summary>
    internal UpDownCounter<long> Connections { get; }

    /// <summary>Subscriptions held.</summary>
    internal UpDownCounter<long> Subscriptions { get; }

    /// <summary>Events published.</summary>
    internal Counter<long> EventsPublished { get; }

    /// <summary>Events written to connections (deliveries).</summary>
    internal Counter<long> MessagesSent { get; }

    /// <summary>Frames sent.</summary>
    internal Counter<long> FramesSent { get; }

    /// <summary>Bytes written.</summary>
    internal Counter<long> BytesSent { get; }

    /// <summary>Error replies, tagged <c>code</c>.</summary>
    internal Counter<long> Errors { get; }

    /// <summary>Server-side closes, tagged <c>code</c>.</summary>
    internal Counter<long> Closes { get; }

    /// <summary>Recoveries, tagged <c>recovered</c> (true/false).</summary>
    internal Counter<long> Recoveries { get; }

    /// <summary>Slow-consumer disconnects.</summary>
    internal Counter<long> SlowConsumers { get; }

    /// <summary>Events conflated away (per connection).</summary>
    internal Counter<long> Conflated { get; }

    /// <summary>See the instrument's description.</summary>
    internal Histogram<double> DeliveryLatency { get; }

    /// <summary>See the instrument's description.</summary>
    internal Histogram<int> WriteQueueDepth { get; }

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();
}
