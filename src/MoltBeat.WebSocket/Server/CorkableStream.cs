using System.Buffers;

namespace MoltBeat.WebSocket.Server;

/// <summary>
/// The stream under each server-side <see cref="System.Net.WebSockets.WebSocket"/>. Kestrel's upgraded
/// stream sends one packet per write; while the connection's writer is draining its queue it "corks"
/// this stream, every frame the WebSocket writes is appended to one buffer, and uncorking sends the
/// whole batch in one write. Frames written while uncorked (pongs, close frames from the receive side)
/// pass straight through. Reads pass through and record when the peer last sent anything.
/// </summary>
internal sealed class CorkableStream(Stream inner, TimeProvider time) : AsyncDuplexStream
{
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    // Rented while corked writes wait, returned at uncork: an idle connection holds no buffer.
    private byte[]? _corked;
    private int _corkedLength;
    private bool _isCorked;
    private bool _closeFrameWritten;

    /// <summary>When the peer last sent bytes, as a <see cref="TimeProvider"/> timestamp.</summary>
    public long LastReadTimestamp { get; private set; } = time.GetTimestamp();

    /// <summary>Bytes written to the network so far.</summary>
    public long BytesWritten { get; private set; }

    /// <summary>From now on, writes are collected until <see cref="UncorkAsync"/>.</summary>
    public void Cork() => Volatile.Write(ref _isCorked, true);

    /// <summary>Sends everything collected since <see cref="Cork"/> in one write, and stops collecting.</summary>
    public async ValueTask UncorkAsync(CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _isCorked = false;
            if (_corked is { } buffer)
            {
                _corked = null;
                try
                {
                    if (_corkedLength > 0)
                        await WriteThroughAsync(buffer.AsMemory(0, _corkedLength), cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    _corkedLength = 0;
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// Takes the stream for one <see cref="WriteFrameThroughAsync"/> from the caller's thread, without waiting:
    /// false while another write is in progress, the writer is corked, or a close frame has gone out.
    /// </summary>
    public bool TryEnterWrite()
    {
        if (Volatile.Read(ref _isCorked))
            return false;
        try
        {
            if (!_writeLock.Wait(0))
                return false;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        // Nothing may follow a close frame, and the WebSocket sends its own (a protocol error) on the receive side.
        if (_closeFrameWritten || _isCorked)
        {
            _writeLock.Release();
            return false;
        }
        return true;
    }

    /// <summary>Gives back the stream taken by <see cref="TryEnterWrite"/>.</summary>
    public void ExitWrite()
    {
        try
        {
            _writeLock.Release();
        }
        catch (ObjectDisposedException)
        {
            // The connection ended while the write was pending; nobody waits for the stream any more.
        }
    }

    /// <summary>
    /// <paramref name="payload"/> as one unmasked text frame, header included: built once per event, written
    /// as is to every connection that takes it directly.
    /// </summary>
    public static byte[] TextFrame(byte[] payload)
    {
        var headerLength = payload.Length < 126 ? 2 : payload.Length <= ushort.MaxValue ? 4 : 10;
        var frame = new byte[headerLength + payload.Length];
        frame[0] = 0x81; // FIN + text
        if (headerLength == 2)
        {
            frame[1] = (byte)payload.Length;
        }
        else if (headerLength == 4)
        {
            frame[1] = 126;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)payload.Length);
        }
        else
        {
            frame[1] = 127;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(frame.AsSpan(2), (ulong)payload.Length);
        }
        payload.CopyTo(frame.AsSpan(headerLength));
        return frame;
    }

    /// <summary>
    /// Writes a whole frame (see <see cref="TextFrame"/>) through, never corked, for a caller that holds the
    /// stream (<see cref="TryEnterWrite"/>). Completes synchronously unless the transport pushes back.
    /// </summary>
    public ValueTask WriteFrameThroughAsync(byte[] frame) => WriteThroughAsync(frame, CancellationToken.None);

    /// <summary>Appends raw, pre-framed bytes (e.g. a ping frame) as one unit.</summary>
    public ValueTask WriteFrameAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken) =>
        WriteAsync(frame, cancellationToken);

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (IsCloseFrame(buffer.Span))
                _closeFrameWritten = true;
            if (_isCorked)
            {
                var needed = _corkedLength + buffer.Length;
                if (_corked is null || _corked.Length < needed)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, 4096));
                    if (_corked is not null)
                    {
                        _corked.AsSpan(0, _corkedLength).CopyTo(bigger);
                        ArrayPool<byte>.Shared.Return(_corked);
                    }
                    _corked = bigger;
                }
                buffer.Span.CopyTo(_corked.AsSpan(_corkedLength));
                _corkedLength = needed;
                // A close frame goes out at once, with what is corked before it: the WebSocket may dispose this
                // stream right after writing one (a protocol error, or the end of the close handshake).
                if (IsCloseFrame(buffer.Span))
                {
                    await WriteThroughAsync(_corked.AsMemory(0, _corkedLength), cancellationToken).ConfigureAwait(false);
                    _corkedLength = 0;
                }
            }
            else
            {
                await WriteThroughAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    // Every write is one whole frame (ManagedWebSocket frames into one buffer), so its first byte is the header: FIN + opcode 8.
    private static bool IsCloseFrame(ReadOnlySpan<byte> frame) => frame.Length >= 2 && frame[0] == 0x88;

    private async ValueTask WriteThroughAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
        BytesWritten += buffer.Length;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (read > 0)
            LastReadTimestamp = time.GetTimestamp();
        return read;
    }

    // The WebSocket flushes after frames it wants out now; while corked the uncork sends them.
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
    // connection has drained it (see DrainAsync) and calls DisposeTransport.
    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _writeLock.Dispose();
        base.Dispose(disposing);
    }
}
