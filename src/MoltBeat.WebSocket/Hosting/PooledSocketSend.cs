using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;

namespace MoltBeat.WebSocket.Hosting;

/// <summary>
/// A send on a socket with event args borrowed for the send alone, from a pool shared by every connection.
/// <c>Socket.SendAsync(ReadOnlyMemory)</c> keeps its own event args on the socket after the first send
/// (about 300 bytes), so every connection that was ever sent to held one for its whole life; with these, an
/// idle connection holds none, and only the sends in flight hold one each.
/// </summary>
/// <remarks>
/// A send completes when the kernel has taken every byte, as the socket's own sends do. No cancellation: a
/// send that must be cancellable goes through the socket's own method (see <see cref="DuplexPipeStream"/>).
/// </remarks>
internal sealed class PooledSocketSend : SocketAsyncEventArgs, IValueTaskSource
{
    // Enough for the sends that are in flight at once (the kernel pushing back on slow clients); any beyond are dropped.
    private const int MaxPooled = 1024;

    private static readonly ConcurrentQueue<PooledSocketSend> Pool = new();
    private static int _pooled;

    // The last one this thread gave back: a fan-out worker whose sends complete at once reuses one without contention.
    [ThreadStatic]
    private static PooledSocketSend? t_last;

    private ManualResetValueTaskSourceCore<bool> _completion;

    // Nothing of the sender's execution context is needed when a send completes.
    private PooledSocketSend()
        : base(unsafeSuppressExecutionContextFlow: true)
    {
    }

    /// <summary>Sends every byte of <paramref name="buffer"/>; an <see cref="IOException"/> when the connection is closed.</summary>
    public static ValueTask SendAsync(Socket socket, ReadOnlyMemory<byte> buffer)
    {
        var send = Rent();
        send.SetBuffer(MemoryMarshal.AsMemory(buffer));
        bool pending;
        try
        {
            pending = socket.SendAsync(send);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
        {
            send.Return();
            return ValueTask.FromException(ex is SocketException socketError ? Closed(socketError.SocketErrorCode) : ex);
        }
        if (pending)
            return new ValueTask(send, send._completion.Version);
        var error = send.SocketError;
        send.Return();
        return error == SocketError.Success ? default : ValueTask.FromException(Closed(error));
    }

    protected override void OnCompleted(SocketAsyncEventArgs e) => _completion.SetResult(true);

    void IValueTaskSource.GetResult(short token)
    {
        _completion.GetResult(token);
        var error = SocketError;
        Return();
        if (error != SocketError.Success)
            throw Closed(error);
    }

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _completion.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _completion.OnCompleted(continuation, state, token, flags);

    private static IOException Closed(SocketError error) =>
        new("The connection is closed: " + error, new SocketException((int)error));

    private static PooledSocketSend Rent()
    {
        if (t_last is { } last)
        {
            t_last = null;
            return last;
        }
        if (Pool.TryDequeue(out var pooled))
        {
            Interlocked.Decrement(ref _pooled);
            return pooled;
        }
        return new PooledSocketSend();
    }

    private void Return()
    {
        // The pool must not keep the sender's frames alive.
        SetBuffer(Memory<byte>.Empty);
        _completion.Reset();
        if (t_last is null)
        {
            t_last = this;
        }
        else if (Interlocked.Increment(ref _pooled) <= MaxPooled)
        {
            Pool.Enqueue(this);
        }
        else
        {
            Interlocked.Decrement(ref _pooled);
            Dispose();
        }
    }
}
