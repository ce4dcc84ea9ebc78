using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace MoltBeat.WebSocket.Server.Outgoing;

/// <summary>
/// One fan-out worker: a thread of its own that owns a share of the connections and writes everything
/// they are sent. Work reaches it through one ordered lane; it works in rounds: take everything in the
/// lane, add each item to the outputs it is for, then write each output that has something waiting.
/// What arrives during a round waits for the next, so one round's write carries everything that came
/// while the previous one was being written.
/// </summary>
internal sealed class FanoutWorker : IDisposable
{
    private readonly object _lane = new();
    private readonly Thread _thread;
    private readonly MoltBeatMetrics _metrics;
    private readonly ILogger _logger;
    private List<WorkItem> _incoming = [];
    private List<WorkItem> _taken = [];
    private List<ConnectionOutput> _dirty = [];
    private List<ConnectionOutput> _flushing = [];
    // This round's events (when the latency is observed at all): recorded once each after the round's writes.
    private readonly List<(long DeliveredAt, string RoomClass)> _roundEvents = [];
    private bool _sleeping;
    private bool _stopped;
    private long _stamp;

    /// <summary>Starts worker <paramref name="index"/>.</summary>
    public FanoutWorker(int index, MoltBeatMetrics metrics, ILogger logger)
    {
        Index = index;
        _metrics = metrics;
        _logger = logger;
        _thread = new Thread(Run) { IsBackground = true, Name = $"MoltBeat fan-out {index}" };
        _thread.Start();
    }

    /// <summary>Its place among the server's workers.</summary>
    public int Index { get; }

    /// <summary>Adds work after everything posted before it (any thread).</summary>
    public void Post(in WorkItem item)
    {
        lock (_lane)
        {
            if (_stopped)
                return;
            _incoming.Add(item);
            if (_sleeping)
            {
                _sleeping = false;
                Monitor.Pulse(_lane);
            }
        }
    }

    /// <summary>Worker: puts <paramref name="output"/> on the list of outputs to write this round (or the next, during one).</summary>
    internal void MarkDirty(ConnectionOutput output)
    {
        if (output.IsDirty)
            return;
        output.IsDirty = true;
        _dirty.Add(output);
    }

    /// <summary>Stops the thread; what is still in the lane is dropped (the server closed its connections first).</summary>
    public void Dispose()
    {
        lock (_lane)
        {
            _stopped = true;
            Monitor.Pulse(_lane);
        }
    }

    private void Run()
    {
        while (true)
        {
            lock (_lane)
            {
                while (_incoming.Count == 0 && _dirty.Count == 0 && !_stopped)
                {
                    _sleeping = true;
                    Monitor.Wait(_lane);
                }
                _sleeping = false;
                if (_stopped)
                    return;
                (_incoming, _taken) = (_taken, _incoming);
            }
            foreach (ref readonly var item in CollectionsMarshal.AsSpan(_taken))
            {
                try
                {
                    Handle(item);
                }
                catch (Exception ex)
                {
                    // A bug must cost one item, never the worker and every connection it serves.
                    ServerLog.FanoutFailed(_logger, ex);
                }
            }
            _taken.Clear();
            FlushDirty();
            RecordLatencies();
        }
    }

    /// <summary>One latency per event and worker: from its delivery to this node until this round wrote it out.</summary>
    private void RecordLatencies()
    {
        if (_roundEvents.Count == 0)
            return;
        var now = Stopwatch.GetTimestamp();
        foreach (var (deliveredAt, roomClass) in CollectionsMarshal.AsSpan(_roundEvents))
            _metrics.DeliveryLatency.Record(Stopwatch.GetElapsedTime(deliveredAt, now).TotalMilliseconds, new KeyValuePair<string, object?>("room", roomClass));
        _roundEvents.Clear();
    }

    private void Handle(in WorkItem item)
    {
        switch (item.Kind)
        {
            case WorkKind.Event:
                {
                    var stamp = ++_stamp;
                    var message = item.Item;
                    if (_metrics.DeliveryLatency.Enabled)
                        _roundEvents.Add((item.DeliveredAt, item.RoomClass!));
                    foreach (var members in item.Members!)
                    {
                        foreach (var output in members)
                        {
                            // At most once per connection, however many of its rooms the event reaches.
                            if (output.DeliveryStamp == stamp)
                                continue;
                            output.DeliveryStamp = stamp;
                            if (output.Append(message))
                                MarkDirty(output);
                        }
                    }
                    break;
                }
            case WorkKind.Send:
                if (item.Output!.Append(item.Item))
                    MarkDirty(item.Output);
                break;
            case WorkKind.Close:
                item.Output!.SetClose(item.FlushQueued);
                MarkDirty(item.Output);
                break;
            case WorkKind.WriteDone:
                item.Output!.WriteEnded(item.Outcome);
                break;
        }
    }

    private void FlushDirty()
    {
        if (_dirty.Count == 0)
            return;
        // Outputs that still have something after this round's write (a big backlog) go on the next list.
        (_dirty, _flushing) = (_flushing, _dirty);
        var counters = new RoundCounters(_metrics.WriteQueueDepth);
        foreach (var output in CollectionsMarshal.AsSpan(_flushing))
        {
            output.IsDirty = false;
            try
            {
                output.Flush(ref counters);
            }
            catch (Exception ex)
            {
                ServerLog.FanoutFailed(_logger, ex);
            }
        }
        _flushing.Clear();
        counters.Report(_metrics);
    }

    /// <summary>What a round wrote, reported to the metrics once per round rather than per write.</summary>
    internal struct RoundCounters(Histogram<int> queueDepth)
    {
        private readonly bool _depthObserved = queueDepth.Enabled;
        private long _events;
        private long _frames;
        private long _bytes;

        /// <summary>One write: its events, frames and bytes, and how many messages had waited for it.</summary>
        public void Add(int events, int frames, int bytes, int messages)
        {
            _events += events;
            _frames += frames;
            _bytes += bytes;
            if (_depthObserved)
                queueDepth.Record(messages);
        }

        public readonly void Report(MoltBeatMetrics metrics)
        {
            if (_frames == 0)
                return;
            metrics.MessagesSent.Add(_events);
            metrics.FramesSent.Add(_frames);
            metrics.BytesSent.Add(_bytes);
        }
    }

    /// <summary>What an item of the lane asks for.</summary>
    internal enum WorkKind : byte
    {
        /// <summary>An event for the members listed (this worker's members of its rooms, snapshotted when it was delivered).</summary>
        Event,

        /// <summary>One item for one output.</summary>
        Send,

        /// <summary>A close of one output.</summary>
        Close,

        /// <summary>One output's write in flight ended.</summary>
        WriteDone,
    }

    /// <summary>One item of the lane.</summary>
    internal readonly struct WorkItem
    {
        private WorkItem(WorkKind kind, ConnectionOutput? output, OutgoingItem item, ConnectionOutput[][]? members, bool flushQueued = false, WriteOutcome outcome = default, long deliveredAt = 0, string? roomClass = null)
        {
            DeliveredAt = deliveredAt;
            RoomClass = roomClass;
            Kind = kind;
            Output = output;
            Item = item;
            Members = members;
            FlushQueued = flushQueued;
            Outcome = outcome;
        }

        public WorkKind Kind { get; }

        public ConnectionOutput? Output { get; }

        public OutgoingItem Item { get; }

        public ConnectionOutput[][]? Members { get; }

        /// <summary>Close: after what is queued.</summary>
        public bool FlushQueued { get; }

        /// <summary>WriteDone: how the write ended.</summary>
        public WriteOutcome Outcome { get; }

        /// <summary>Event: when it was delivered to this node (a <see cref="Stopwatch"/> timestamp).</summary>
        public long DeliveredAt { get; }

        /// <summary>Event: its room class for the metrics (<see cref="RoomClasses"/>).</summary>
        public string? RoomClass { get; }

        public static WorkItem Event(byte[] message, ConnectionOutput[][] members, long deliveredAt, string roomClass) =>
            new(WorkKind.Event, null, new OutgoingItem(message, OutgoingKind.Event), members, deliveredAt: deliveredAt, roomClass: roomClass);

        public static WorkItem Send(ConnectionOutput output, OutgoingItem item) => new(WorkKind.Send, output, item, null);

        public static WorkItem Close(ConnectionOutput output, bool flushQueued) => new(WorkKind.Close, output, default, null, flushQueued);

        public static WorkItem WriteDone(ConnectionOutput output, WriteOutcome outcome) => new(WorkKind.WriteDone, output, default, null, outcome: outcome);
    }
}
