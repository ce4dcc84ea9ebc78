using System.Buffers;
using System.Net.WebSockets;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Server;

internal sealed partial class ClientConnection
{
    // An unmasked WebSocket ping with no payload: FIN + opcode 9, length 0.
    private static readonly byte[] PingFrame = [0x89, 0x00];

    // Bytes drained into one network write at most, so that the cork buffer stays small.
    private const int MaxBytesPerWrite = 256 * 1024;

    /// <summary>
    /// The connection's only writer of messages: drains whatever is queued, frames it (packing messages
    /// into one frame for batching clients) into the corked stream, and sends it in one write.
    /// </summary>
    private async Task RunWriterAsync()
    {
        var token = _aborted.Token;
        byte[]? batch = null;
        var batchLength = 0;
        try
        {
            while (await _queue.WaitToReadAsync().ConfigureAwait(false))
            {
                // Let the publisher queue more before draining: one write then carries a burst, not one event.
                await Task.Yield();
                _stream.Cork();
                var drained = 0;
                var frames = 0;
                while (drained < MaxBytesPerWrite && Volatile.Read(ref _closeState) != 2 && _queue.TryRead(out var item))
                {
                    var length = item.Message?.Length ?? 2;
                    if (item.Kind != OutgoingKind.Replay)
                    {
                        Interlocked.Add(ref _queuedBytes, -length);
                        Interlocked.Decrement(ref _queuedMessages);
                    }
                    drained += length;
                    if (item.Kind == OutgoingKind.Ping)
                    {
                        frames += await FlushBatchAsync().ConfigureAwait(false);
                        await _stream.WriteFrameAsync(PingFrame, token).ConfigureAwait(false);
                        frames++;
                    }
                    else if (Batch)
                    {
                        var message = item.Message!;
                        var needed = batchLength + (batchLength > 0 ? 1 : 0) + message.Length;
                        if (batchLength > 0 && needed > _server.Options.MaxBatchSize)
                        {
                            frames += await FlushBatchAsync().ConfigureAwait(false);
                            needed = message.Length;
                        }
                        if (batch is null || batch.Length < needed)
                        {
                            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, Math.Min(_server.Options.MaxBatchSize, 16 * 1024)));
                            if (batch is not null)
                            {
                                batch.AsSpan(0, batchLength).CopyTo(bigger);
                                ArrayPool<byte>.Shared.Return(batch);
                            }
                            batch = bigger;
                        }
                        if (batchLength > 0)
                            batch[batchLength++] = (byte)'\n';
                        message.CopyTo(batch.AsSpan(batchLength));
                        batchLength += message.Length;
                    }
                    else
                    {
                        await _socket.SendAsync(item.Message.AsMemory(), WebSocketMessageType.Text, true, token).ConfigureAwait(false);
                        frames++;
                    }
                }
                frames += await FlushBatchAsync().ConfigureAwait(false);
                // Return the batch buffer after each drain: an idle connection holds no buffer.
                if (batch is not null)
                {
                    ArrayPool<byte>.Shared.Return(batch);
                    batch = null;
                }
                var before = _stream.BytesWritten;
                await _stream.UncorkAsync(token).ConfigureAwait(false);
                _server.Metrics.FramesSent.Add(frames);
                _server.Metrics.BytesSent.Add(_stream.BytesWritten - before);
                if (Volatile.Read(ref _closeState) == 2)
                    break;
            }
            await SendCloseFrameAsync(token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ObjectDisposedException || (ex as WebSocketException)?.WebSocketErrorCode == WebSocketError.InvalidState)
        {
            // The receive side closed the socket under us (the client's close, or the framework's 1002/1007 for a
            // protocol error); its close frame has gone out, and aborting now could cut it off. The receive loop
            // is ending the connection.
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException)
        {
            // The socket is gone; the receive loop ends and cleans up.
            _abortTransport();
        }
        finally
        {
            if (batch is not null)
                ArrayPool<byte>.Shared.Return(batch);
            // Free whatever is still queued: a closed connection keeps nothing.
            while (_queue.TryRead(out _)) { }
            Interlocked.Exchange(ref _queuedBytes, 0);
            Interlocked.Exchange(ref _queuedMessages, 0);
        }

        async ValueTask<int> FlushBatchAsync()
        {
            if (batchLength == 0)
                return 0;
            await _socket.SendAsync(batch.AsMemory(0, batchLength), WebSocketMessageType.Text, true, token).ConfigureAwait(false);
            batchLength = 0;
            return 1;
        }
    }

    /// <summary>
    /// Writes one event frame straight to the transport from the publishing thread, skipping the writer's
    /// wake-up (two thread-pool hops) when nothing is queued and the writer is parked: at steady, low
    /// rates this is most of a delivery's latency. False (nothing written) when the connection is busy;
    /// the caller queues instead, which keeps order, batching and the slow-consumer bound.
    /// </summary>
    private bool TryWriteNow(byte[] framed)
    {
        if (!_queue.TryClaimIdle())
            return false;
        if (!_stream.TryEnterWrite())
        {
            _queue.ReleaseClaim();
            return false;
        }
        ValueTask write;
        try
        {
            write = _stream.WriteFrameThroughAsync(framed);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            write = ValueTask.FromException(ex);
        }
        if (write.IsCompletedSuccessfully)
        {
            EndWriteNow();
            return true;
        }
        // The transport pushes back (or failed): keep the claim, so later events queue behind this one, until it is done.
        _ = FinishWriteNowAsync(write);
        return true;
    }

    private async Task FinishWriteNowAsync(ValueTask write)
    {
        try
        {
            await write.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            // The socket is gone; the receive loop ends and cleans up.
            _abortTransport();
        }
        finally
        {
            EndWriteNow();
        }
    }

    private void EndWriteNow()
    {
        _stream.ExitWrite();
        _queue.ReleaseClaim();
    }

    private async Task SendCloseFrameAsync(CancellationToken token)
    {
        if (_socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
            return;
        var code = _closeCode ?? CloseCodes.Normal;
        await _socket.CloseOutputAsync((WebSocketCloseStatus)code.Code, code.Reason, token).ConfigureAwait(false);
    }
}
