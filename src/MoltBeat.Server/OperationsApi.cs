using System.Diagnostics.Metrics;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.Server;

/// <summary>The operations view (<c>GET /api/operations</c>, the dashboard's operations panel): who is behind, and how long deliveries take.</summary>
/// <param name="Node">This node.</param>
/// <param name="Latency">Delivery latency per room class over the recent window, slowest p99 first.</param>
/// <param name="Lagging">The clients with the most waiting for them (at most ten).</param>
/// <param name="Recoveries">Recoveries and slow-consumer closes since start.</param>
/// <param name="Nodes">The deployment's live nodes with their connections, this one first (empty when the engine cannot say now).</param>
public sealed record OperationsReport(NodeView Node, IReadOnlyList<RoomLatency> Latency, IReadOnlyList<LaggingClient> Lagging, WSRecoveryStats Recoveries, IReadOnlyList<NodeInfo> Nodes);

/// <summary>One node.</summary>
/// <param name="Name">Its machine name and port.</param>
/// <param name="Clients">Its connected clients.</param>
/// <param name="Engine">Its engine (memory or redis).</param>
/// <param name="Healthy">Whether its engine can publish.</param>
public sealed record NodeView(string Name, int Clients, string Engine, bool Healthy);

/// <summary>Delivery latency of one room class (<c>moltbeat.delivery.latency</c>): from the event's delivery to this node to its write.</summary>
/// <param name="Room">The room class (a configured room, a first segment, <c>broadcast</c> or <c>other</c>).</param>
/// <param name="Samples">Measurements in the window (the last 2 048 at most).</param>
/// <param name="P50">Median, ms.</param>
/// <param name="P90">90th percentile, ms.</param>
/// <param name="P99">99th percentile, ms.</param>
/// <param name="Max">Largest, ms.</param>
public sealed record RoomLatency(string Room, int Samples, double P50, double P90, double P99, double Max);

/// <summary>A client that something waits for.</summary>
/// <param name="ClientId">Its connection id (user ids are not shown on this open endpoint).</param>
/// <param name="QueuedBytes">Bytes waiting for it.</param>
/// <param name="QueuedMessages">Messages waiting for it.</param>
public sealed record LaggingClient(string ClientId, long QueuedBytes, int QueuedMessages);

/// <summary>
/// Keeps the most recent delivery latencies per room class, read from the library's histogram by an in-process
/// listener (Prometheus scrapes the same histogram as buckets; this keeps the raw values for percentiles).
/// </summary>
internal sealed class DeliveryLatencyWindow : IDisposable
{
    private const int Capacity = 2048;
    private readonly MeterListener _listener = new();
    private readonly Dictionary<string, Ring> _rooms = new(StringComparer.Ordinal);

    public DeliveryLatencyWindow()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == MoltBeatMetrics.MeterName && instrument.Name == "moltbeat.delivery.latency")
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            var room = "other";
            foreach (var tag in tags)
            {
                if (tag.Key == "room" && tag.Value is string r)
                    room = r;
            }
            Ring? ring;
            lock (_rooms)
            {
                if (!_rooms.TryGetValue(room, out ring))
                    _rooms[room] = ring = new Ring();
            }
            ring.Add(value);
        });
        _listener.Start();
    }

    public IReadOnlyList<RoomLatency> Snapshot()
    {
        KeyValuePair<string, Ring>[] rooms;
        lock (_rooms)
            rooms = [.. _rooms];
        return [.. rooms.Select(r => r.Value.Summary(r.Key)).Where(s => s is not null).Select(s => s!).OrderByDescending(s => s.P99)];
    }

    public void Dispose() => _listener.Dispose();

    private sealed class Ring
    {
        private readonly double[] _values = new double[Capacity];
        private int _next;
        private int _count;

        public void Add(double value)
        {
            lock (this)
            {
                _values[_next] = value;
                _next = (_next + 1) % Capacity;
                _count = Math.Min(_count + 1, Capacity);
            }
        }

        public RoomLatency? Summary(string room)
        {
            double[] sorted;
            lock (this)
                sorted = _values[.._count];
            if (sorted.Length == 0)
                return null;
            Array.Sort(sorted);
            double At(double q) => Math.Round(sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)], 3);
            return new RoomLatency(room, sorted.Length, At(0.5), At(0.9), At(0.99), Math.Round(sorted[^1], 3));
        }
    }
}

internal static class OperationsApi
{
    public static void MapOperationsApi(this WebApplication app)
    {
        app.MapGet("/api/operations", async (MoltBeatWSServer server, DeliveryLatencyWindow latency, HttpContext http) =>
            {
                var stats = server.GetStats();
                var node = new NodeView($"{Environment.MachineName}:{http.Connection.LocalPort}", stats.TotalClients, stats.Engine.Name, stats.Engine.Healthy);
                var lagging = server.GetLaggingClients(10).Select(c => new LaggingClient(c.ClientId, c.QueuedBytes, c.QueuedMessages)).ToList();
                IReadOnlyList<NodeInfo> nodes;
                try
                {
                    nodes = await server.GetNodesAsync(http.RequestAborted);
                }
                catch (EngineUnavailableException)
                {
                    nodes = []; // this node's own figures above still stand while Redis is away
                }
                return Results.Ok(new OperationsReport(node, latency.Snapshot(), lagging, stats.Recovery, nodes));
            })
            .WithTags("health")
            .WithSummary("Operations view of this node: delivery latency percentiles per room class, the clients most behind, recoveries and slow consumers; and the deployment's live nodes with their connections.")
            .Produces<OperationsReport>();
    }
}
