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
    // Throttles (maxRate) with events waiting, by when they are released; an entry whose throttle is gone does nothing.
    private readonly PriorityQueue<(ConnectionOutput Output, SubscriptionThrottle Throttle), long> _releases = new();
    // Outputs whose subscription throttles the event being handed out, resolved once all its rooms were walked.
    private readonly List<ConnectionOutput> _held = [];
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

    /// <summary>Worker: releases <paramref name="throttle"/> of <paramref name="output"/> when it is due.</summary>
    internal void Schedule(ConnectionOutput output, SubscriptionThrottle throttle) => _releases.Enqueue((output, throttle), throttle.NextRelease);

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
                    var wait = UntilNextRelease();
                    if (wait == 0)
                        break;
                    _sleeping = true;
                    Monitor.Wait(_lane, wait);
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
            ReleaseDue();
            FlushDirty();
            RecordLatencies();
        }
    }

    /// <summary>Milliseconds until the next throttle release (-1: none scheduled, wait for work; 0: one is due).</summary>
    private int UntilNextRelease()
    {
        if (!_releases.TryPeek(out _, out var due))
            return Timeout.Infinite;
        var ms = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due).TotalMilliseconds;
        return ms <= 0 ? 0 : (int)Math.Ceiling(Math.Min(ms, int.MaxValue));
    }

    /// <summary>Releases every throttle that is due into its output's queue.</summary>
    private void ReleaseDue()
    {
        if (_releases.Count == 0)
            return;
        var now = Stopwatch.GetTimestamp();
        while (_releases.TryPeek(out var entry, out var due) && due <= now)
        {
            _releases.Dequeue();
            if (entry.Output.Release(entry.Throttle, now))
                MarkDirty(entry.Output);
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
                    HandOut(item);
                    break;
                }
            case WorkKind.Send:
                if (item.Output!.Append(item.Item))
                    MarkDirty(item.Output);
                break;
            case WorkKind.SendForRoom:
                if (item.Output!.AppendForRoom(item.Item, item.Room!, Stopwatch.GetTimestamp()))
                    MarkDirty(item.Output);
                break;
            case WorkKind.Rate:
                if (item.Output!.SetRate(item.Room!, item.MaxRate))
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

    /// <summary>One event to this worker's members of its rooms: at most once per connection, however many of its rooms it reaches.</summary>
    private void HandOut(in WorkItem item)
    {
        var stamp = ++_stamp;
        var message = item.Item;
        if (_metrics.DeliveryLatency.Enabled)
            _roundEvents.Add((item.DeliveredAt, item.RoomClass!));
        var members = item.Members!;
        for (var r = 0; r < members.Length; r++)
        {
            foreach (var output in members[r])
            {
                if (output.DeliveryStamp == stamp)
                {
                    // Held by one room's maxRate, but another of its rooms of this event has none: it goes now.
                    if (output.HeldBy is not null && output.ThrottleOf(item.Rooms![r]) is null)
                    {
                        output.HeldBy = null;
                        if (output.Append(message))
                            MarkDirty(output);
                    }
                    continue;
                }
                output.DeliveryStamp = stamp;
                if (output.HasThrottles && item.Rooms is { } rooms && output.ThrottleOf(rooms[r]) is { } throttle)
                {
                    output.HeldBy = throttle;
                    _held.Add(output);
                }
                else if (output.Append(message))
                {
                    MarkDirty(output);
                }
            }
        }
        if (_held.Count == 0)
            return;
        var now = Stopwatch.GetTimestamp();
        foreach (var output in CollectionsMarshal.AsSpan(_held))
        {
            if (output.HeldBy is { } throttle && output.Hold(throttle, message, now))
                MarkDirty(output);
            output.HeldBy = null;
        }
        _held.Clear();
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

        /// <summary>One event of a room for one output (a replay): held by the room's <c>maxRate</c>, if any.</summary>
        SendForRoom,

        /// <summary>A subscription's <c>maxRate</c> changed (0: none).</summary>
        Rate,

        /// <summary>A close of one output.</summary>
        Close,

        /// <summary>One output's write in flight ended.</summary>
        WriteDone,
    }

    /// <summary>One item of the lane.</summary>
    internal readonly struct WorkItem
    {
        private WorkItem(WorkKind kind, ConnectionOutput? output, OutgoingItem item, ConnectionOutput[][]? members, bool flushQueued = false, WriteOutcome outcome = default, long deliveredAt = 0, string? roomClass = null, string[]? rooms = null, double maxRate = 0)
        {
            Rooms = rooms;
            MaxRate = maxRate;
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

        /// <summary>Event: the room of each of <see cref="Members"/> (null for a broadcast to all); SendForRoom, Rate: the one room.</summary>
        public string[]? Rooms { get; }

        /// <summary>SendForRoom, Rate: the room.</summary>
        public string? Room => Rooms?[0];

        /// <summary>Rate: the subscription's <c>maxRate</c> (0: none).</summary>
        public double MaxRate { get; }

        /// <summary>Close: after what is queued.</summary>
        public bool FlushQueued { get; }

        /// <summary>WriteDone: how the write ended.</summary>
        public WriteOutcome Outcome { get; }

        /// <summary>Event: when it was delivered to this node (a <see cref="Stopwatch"/> timestamp).</summary>
        public long DeliveredAt { get; }

        /// <summary>Event: its room class for the metrics (<see cref="RoomClasses"/>).</summary>
        public string? RoomClass { get; }

        public static WorkItem Event(Engine.PublishedEvent published, ConnectionOutput[][] members, long deliveredAt, string roomClass) =>
            new(WorkKind.Event, null, new OutgoingItem(published, OutgoingKind.Event), members, deliveredAt: deliveredAt, roomClass: roomClass, rooms: published.DeliveryRooms);

        public static WorkItem SendForRoom(ConnectionOutput output, OutgoingItem item, string room) =>
            new(WorkKind.SendForRoom, output, item, null, rooms: [room]);

        public static WorkItem Rate(ConnectionOutput output, string room, double maxRate) =>
            new(WorkKind.Rate, output, default, null, rooms: [room], maxRate: maxRate);

        public static WorkItem Send(ConnectionOutput output, OutgoingItem item) => new(WorkKind.Send, output, item, null);

        public static WorkItem Close(ConnectionOutput output, bool flushQueued) => new(WorkKind.Close, output, default, null, flushQueued);

        public static WorkItem WriteDone(ConnectionOutput output, WriteOutcome outcome) => new(WorkKind.WriteDone, output, default, null, outcome: outcome);
    }
}
