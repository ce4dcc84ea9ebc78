using System.Threading.Tasks.Sources;

namespace MoltBeat.WebSocket.Server;

/// <summary>
/// One connection's outgoing queue: many producers (fan-out, replies, heartbeats), one reader (the
/// connection's writer). Lighter than an unbounded channel where it matters at 20 000 connections: an
/// idle connection holds no item storage (the queue is dropped whenever it drains) and its waiting
/// writer costs no allocation (a reusable value-task source).
/// </summary>
/// <typeparam name="T">The queued item.</typeparam>
internal sealed class OutgoingQueue<T> : IValueTaskSource<bool>
{
    private Queue<T>? _items;
    private bool _completed;
    private bool _waiting;
    private bool _claimed;
    private ManualResetValueTaskSourceCore<bool> _signal = new() { RunContinuationsAsynchronously = true };

    /// <summary>Adds an item; false once the queue was completed.</summary>
    public bool TryWrite(T item)
    {
        bool wake;
        lock (this)
        {
            if (_completed)
                return false;
            (_items ??= new Queue<T>(4)).Enqueue(item);
            wake = TakeWakeLocked();
        }
        // Outside the lock, and continuations run on the thread pool: a publisher never runs a writer inline.
        if (wake)
            _signal.SetResult(true);
        return true;
    }

    /// <summary>No more items will be written; the reader still drains what is queued.</summary>
    public void Complete()
    {
        bool wake;
        lock (this)
        {
            _completed = true;
            wake = TakeWakeLocked();
        }
        if (wake)
            _signal.SetResult(true);
    }

    /// <summary>
    /// Claims the output for one write that bypasses the queue: true only when nothing is queued, the
    /// queue is open and the writer is parked, so the caller's write cannot overtake anything. Until
    /// <see cref="ReleaseClaim"/>, new items are queued without waking the writer.
    /// </summary>
    public bool TryClaimIdle()
    {
        lock (this)
        {
            if (!_waiting || _claimed || _completed || _items is { Count: > 0 })
                return false;
            _claimed = true;
            return true;
        }
    }

    /// <summary>Ends a claim from <see cref="TryClaimIdle"/>, waking the writer for whatever was queued meanwhile.</summary>
    public void ReleaseClaim()
    {
        bool wake;
        lock (this)
        {
            _claimed = false;
            wake = TakeWakeLocked();
        }
        if (wake)
            _signal.SetResult(true);
    }

    /// <summary>
    /// Whether the parked writer is to be woken (and is then no longer waiting): when it has something to do,
    /// unless a direct write holds the output (<see cref="TryClaimIdle"/>): waking it then could send an item
    /// before that write is done, so <see cref="ReleaseClaim"/> wakes it instead. Lock held.
    /// </summary>
    private bool TakeWakeLocked()
    {
        if (!_waiting || _claimed || !(_completed || _items is { Count: > 0 }))
            return false;
        _waiting = false;
        return true;
    }

    /// <summary>Waits until an item is queued (true) or the queue is completed and empty (false). One reader only.</summary>
    public ValueTask<bool> WaitToReadAsync()
    {
        lock (this)
        {
            if (_items is { Count: > 0 })
                return new ValueTask<bool>(true);
            if (_completed)
                return new ValueTask<bool>(false);
            _signal.Reset();
            _waiting = true;
            return new ValueTask<bool>(this, _signal.Version);
        }
    }

    /// <summary>Takes the oldest item, if any.</summary>
    public bool TryRead(out T item)
    {
        lock (this)
        {
            if (_items is { Count: > 0 } items)
            {
                item = items.Dequeue();
                if (items.Count == 0)
                    _items = null;
                return true;
            }
            item = default!;
            return false;
        }
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _signal.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _signal.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _signal.OnCompleted(continuation, state, token, flags);
}
