using System.Buffers;
using System.IO.Pipelines;
using MoltBeat.WebSocket.Hosting;

namespace MoltBeat.WebSocket.Server.Outgoing;

/// <summary>
/// The stream under each server-side <see cref="System.Net.WebSockets.WebSocket"/>. Two writers share it:
/// the connection's <see cref="ConnectionOutput"/> (every message the server sends, framed by
/// <see cref="FrameEncoder"/>) and the framework's WebSocket (pongs and close frames); a write lock keeps
/// their frames whole, and nothing is written after a close frame. Reads pass through and record when
/// the peer last sent anything.
/// </summary>
/// <remarks>
/// Over Kestrel's raw transport without a socket to send on (see <see cref="DuplexPipeStream"/>), the output
/// frames straight into the transport's pipe (<see cref="TryBeginDirectWrite"/>): no buffer of its own, no
/// copy, no stream layers per write.
/// </remarks>
internal sealed class ConnectionStream(Stream inner, TimeProvider time) : AsyncDuplexStream
{
    private readonly PipeWriter? _pipe = (inner as DuplexPipeStream)?.Output;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private bool _closeFrameWritten;

    /// <summary>
    /// The code of the close frame the framework's WebSocket wrote (a protocol error it found: 1002, 1007), which it
    /// does not report itself; null when it wrote none.
    /// </summary>
    public int? FrameworkCloseCode { get; private set; }

    /// <summary>When the peer last sent bytes, as a <see cref="TimeProvider"/> timestamp.</summary>
    public long LastReadTimestamp { get; private set; } = time.GetTimestamp();

    /// <summary>
    /// Writes whole frames unless a close frame has gone out already (false: nothing written, and nothing
    /// more ever will be). Completes synchronously unless the transport pushes back.
    /// </summary>
    public async ValueTask<bool> TryWriteFramesAsync(ReadOnlyMemory<byte> frames)
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_closeFrameWritten)
                return false;
            await WriteThroughAsync(frames, CancellationToken.None).ConfigureAwait(false);
            return true;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// Takes the stream for frames written straight into the transport's pipe, without waiting: then
    /// <paramref name="pipe"/> is where to write them, and <see cref="EndDirectWriteAsync"/> sends them.
    /// </summary>
    public DirectWrite TryBeginDirectWrite(out PipeWriter pipe)
    {
        pipe = _pipe!;
        if (_pipe is null || !_writeLock.Wait(0))
            return DirectWrite.Unavailable;
        if (_closeFrameWritten)
        {
            _writeLock.Release();
            return DirectWrite.Closed;
        }
        return DirectWrite.Begun;
    }

    /// <summary>Flushes what was written into the pipe since <see cref="TryBeginDirectWrite"/> and gives the stream back.</summary>
    /// <exception cref="IOException">The connection is closed.</exception>
    public async ValueTask<bool> EndDirectWriteAsync()
    {
        try
        {
            var result = await _pipe!.FlushAsync().ConfigureAwait(false);
            if (result.IsCompleted)
                throw new IOException("The connection is closed.");
            return true;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>The framework's WebSocket writes here: one whole frame per call (a pong or a close frame).</summary>
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_closeFrameWritten)
                return;
            _closeFrameWritten = FrameEncoder.IsClose(buffer.Span);
            if (_closeFrameWritten)
                FrameworkCloseCode = FrameEncoder.CloseCodeOf(buffer.Span);
            await WriteThroughAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async ValueTask WriteThroughAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    // A zero-byte read (the WebSocket waiting for the next frame) reads nothing to record: passed through, so
    // that an idle connection does not hold a state machine of this stream as well.
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        buffer.IsEmpty ? inner.ReadAsync(buffer, cancellationToken) : ReadAndRecordAsync(buffer, cancellationToken);

    private async ValueTask<int> ReadAndRecordAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (read > 0)
            LastReadTimestamp = time.GetTimestamp();
        return read;
    }

    // Every write above flushes itself.
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Reads and drops what the peer still sends, until it stops (end of stream), <paramref name="timeout"/>
    /// passes, or 1 MiB was dropped: a bounded lingering close.
    /// </summary>
    public async Task DrainAsync(TimeSpan timeout)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            using var cts = new CancellationTokenSource(timeout);
            for (var dropped = 0; dropped < 1024 * 1024;)
            {
                var read = await inner.ReadAsync(buffer, cts.Token).ConfigureAwait(false);
                if (read == 0)
                    return;
                dropped += read;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // Timed out or the connection is gone: either way, stop lingering.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Closes the transport underneath. The connection calls it last, after any lingering drain.</summary>
    public void DisposeTransport() => inner.Dispose();

    // The WebSocket disposes this stream as soon as it fails; the transport under it stays open until the
    // connection has drained it (see DrainAsync) and calls DisposeTransport. The write lock is not disposed:
    // a write still in flight releases it afterwards.
}

/// <summary>Whether <see cref="ConnectionStream.TryBeginDirectWrite"/> took the stream.</summary>
internal enum DirectWrite : byte
{
    /// <summary>Taken: write into the pipe, then end the write.</summary>
    Begun,

    /// <summary>Not now (no pipe underneath, or another write holds the stream): write through the stream instead.</summary>
    Unavailable,

    /// <summary>Never again: a close frame has gone out.</summary>
    Closed,
}
